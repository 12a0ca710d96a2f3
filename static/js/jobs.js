// The two job pages (Revoke Expired, Expiry Notifications): what their htmx attributes cannot
// say. A static file, so a Content-Security-Policy needs no inline script. The page's markup
// contract: the run button #<job>-run-button posts into #<job>-result; the banner
// #job-banner-<job> holds its polling element #job-banner-<job>-poll (templates/jobs/_banner.html).
(function () {
  "use strict";

  var RUN_BUTTONS = ["revoke-run-button", "notify-run-button"];

  // With DEBUG on, django-htmx's helper shows a 400/403/500 answer as a whole page (for Django's
  // debug pages). A run button's 400/403/500 are result panels: keep them in the result box.
  document.addEventListener(
    "htmx:beforeOnLoad",
    function (event) {
      var status = event.detail.xhr.status;
      if ([400, 403, 500].indexOf(status) !== -1 && RUN_BUTTONS.indexOf(event.detail.elt.id) !== -1) {
        event.stopPropagation();
      }
    },
    true
  );

  var sentAt = new WeakMap(); // a request's XMLHttpRequest (the same object in all its events) -> when sent
  document.addEventListener("htmx:beforeRequest", function (event) {
    sentAt.set(event.detail.xhr, performance.now());
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (/^(revoke|notifications)-result$/.test(target.id) && event.target === target) {
      // A run's answer is in: focus moves to it (the button it came from may be gone or disabled).
      target.dataset.shownAt = String(performance.now());
      target.focus();
      return;
    }
    var poll = /^job-banner-(\w+)-poll$/.exec(event.target.id || "");
    if (poll) {
      clearStaleConflict(poll[1], sentAt.get(event.detail.xhr) || 0);
    }
  });

  // "Already running" describes the run that held the lock at the click. Once a banner poll sent
  // after that card appeared finds the job unlocked, that run has ended: the card goes.
  function clearStaleConflict(job, pollSentAt) {
    var banner = document.getElementById("job-banner-" + job);
    var result = document.getElementById(job + "-result");
    if (!banner || !result || banner.querySelector(".job-banner")) {
      return;
    }
    if (result.querySelector(".result.conflict") && Number(result.dataset.shownAt || 0) < pollSentAt) {
      result.replaceChildren();
    }
  }
})();
