"""A run's page (/jobs/runs/<jobId>/) in Chromium: followed from the banner while a real
notification run sends, it shows the counts move and then the result, without a reload; a
run whose send failed on a real SMTP server (it hung up on the send and on its one retry)
shows as "Completed with failures" (amber) on the run page, in Job History and in the job
page's last-runs box."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from jobs.models import NotificationFailure
from tests.faults.smtp import SmtpSink

pytestmark = pytest.mark.browser

NOTIFY = "/jobs/expiry-notifications/"
RUN_PAGE = re.compile(r"/jobs/runs/[0-9a-f-]{36}/$")

# What the run page shows after each of its swaps, recorded in the page: (status, progress).
RECORD_STATES = """() => {
  window.states = [];
  const fact = (name) => {
    const dt = [...document.querySelectorAll('#run-detail dt')].find((e) => e.textContent === name);
    return dt ? dt.nextElementSibling.textContent.trim() : null;
  };
  const record = () => {
    const state = [fact('Status'), fact('Progress')];
    const last = window.states[window.states.length - 1];
    if (!last || last[0] !== state[0] || last[1] !== state[1]) window.states.push(state);
  };
  record();
  new MutationObserver(record).observe(document.getElementById('run-live'), {childList: true, subtree: true});
}"""

# The colour the stylesheet calls amber (--warn-bg), as getComputedStyle writes it.
AMBER = """() => {
  const probe = document.createElement('span');
  probe.style.backgroundColor = 'var(--warn-bg)';
  document.body.append(probe);
  const colour = getComputedStyle(probe).backgroundColor;
  probe.remove();
  return colour;
}"""


def fact(page, name: str):
    """The value of one of the run page's facts (Status, Progress, Sent, ...)."""
    return page.locator("#run-detail .run-facts > div", has=page.locator(f"dt:text-is('{name}')")).locator(
        "dd"
    )


def test_a_run_page_shows_the_counts_moving_and_then_the_result(
    operator_page, open_page, make_request, settings
):
    settings.JOB_POLL_SECONDS = 1
    settings.NOTIFY_SEND_DELAY_SECONDS = 1.5
    settings.NOTIFY_MAX_WORKERS = 1  # one send after another: the count moves one by one
    due = [make_request(expires_in=timedelta(days=d, hours=1)) for d in (3, 5, 20, 25, 29)]

    a, _ = operator_page(NOTIFY)
    b, _ = open_page(NOTIFY, context=a.context)
    a.locator("#notify-run-button").click()  # tab A waits for its run's answer

    b.locator("#job-banner-notifications").get_by_role("link", name="Follow the run →").click()
    expect(b).to_have_url(RUN_PAGE)
    b.evaluate(RECORD_STATES)
    b.evaluate("window.sameDocument = true")  # gone if the page reloads
    expect(b.get_by_role("heading", level=1)).to_have_text("Expiry notifications run")
    expect(fact(b, "Status")).to_have_text("In progress")
    expect(fact(b, "Triggered by")).to_have_text("olivia")
    expect(fact(b, "Ended")).to_have_text("—")

    # The run ends: the same document shows the result, and the poll has stopped.
    expect(fact(b, "Status")).to_have_text("Completed", timeout=30_000)
    assert b.evaluate("window.sameDocument") is True
    expect(fact(b, "Progress")).to_have_text("5 of 5")
    expect(fact(b, "Sent")).to_have_text("5")
    expect(fact(b, "Failed")).to_have_text("0")
    expect(fact(b, "Duration")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(fact(b, "Ended").locator("time")).to_be_visible()
    reminders = b.locator("h2:text-is('Reminders recorded (5)') + .table-wrap")
    for r in due:
        expect(reminders.get_by_role("link", name=r.request_id)).to_have_attribute(
            "href", f"/requests/{r.request_id}/"
        )
    expect(b.locator("#run-detail")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    expect(a.locator("#notifications-result")).to_contain_text("Sent 5")

    states = b.evaluate("window.states")
    running = [progress for status, progress in states if status == "In progress"]
    assert len(set(running)) >= 2, states  # the counts moved while it ran, without a reload
    assert all(re.fullmatch(r"[0-4] of 5", progress) for progress in running), states
    assert states[-1] == ["Completed", "5 of 5"], states


def test_a_run_with_failed_sends_shows_as_completed_with_failures(operator_page, make_request, settings):
    due = [make_request(expires_in=timedelta(days=d, hours=1)) for d in (5, 20, 29)]
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.NOTIFY_SEND_DELAY_SECONDS = 0
        settings.NOTIFY_MAX_WORKERS = 1  # one send after another: the drops below hit one send
        sink.drop_next(2)  # the server hangs up on the first message and on its one retry: it fails

        page, _ = operator_page(NOTIFY)
        page.locator("#notify-run-button").click()
        result = page.locator("#notifications-result")
        expect(result).to_contain_text("Sent 2 · failed 1")
        assert sum(sink.recipients().values()) == 2
    failure = NotificationFailure.objects.get()
    assert failure.request_id in {r.request_id for r in due}
    amber = page.evaluate(AMBER)

    last_run = page.locator("#last-runs-notifications tbody tr").first  # reloaded when the run ended
    expect(last_run.locator(".badge")).to_have_text("Completed with failures")
    assert last_run.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor") == amber

    page.goto("/jobs/history/")
    row = page.locator("tbody tr").filter(has_text="Expiry notifications")
    expect(row).to_have_count(1)
    badge = row.locator(".badge")
    expect(badge).to_have_text("Completed with failures")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == amber
    expect(row).to_contain_text("Sent 2, failed 1")

    row.locator(f'a[href="/jobs/runs/{failure.job_id}/"]').click()
    expect(page).to_have_url(re.compile(re.escape(f"/jobs/runs/{failure.job_id}/") + "$"))
    status = fact(page, "Status").locator(".badge")
    expect(status).to_have_text("Completed with failures")
    assert status.evaluate("e => getComputedStyle(e).backgroundColor") == amber
    expect(fact(page, "Sent")).to_have_text("2")
    expect(fact(page, "Failed")).to_have_text("1")
    failed = page.locator("h2:text-is('Failed sends (1)') + .table-wrap tbody tr")
    expect(failed).to_have_count(1)
    expect(failed.get_by_role("link", name=failure.request_id)).to_be_visible()
    expect(failed).to_contain_text(failure.sent_to)
    expect(failed).to_contain_text(failure.error_message)
    assert failure.error_message  # what the SMTP client said
