"""Job pages: Revoke Expired, Expiry Notifications, Job History, and the polling banner both
job pages include. Each page answers HTMX (its panel refresh) with the panel alone. Every one
needs requests_app.view_all_requests (they list everyone's requests): 403 without it."""

import json

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST, require_safe

from accessmgr.db import db_now
from accessmgr.http import page_number_or_first
from jobs.lock import LockHeld
from jobs.models import JOB_MODELS, JobRun, NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import NotifyOptionsError, notifications_send, pending_notifications
from jobs.revoke import revoke_expired_run
from jobs.runner import JobFailed
from jobs.selectors import JOB_TITLES, job_run_detail, job_runs_page, job_runs_recent
from jobs.status import live_run, live_run_cached
from requests_app.auth import view_all_required
from requests_app.models import REVOKED_BY_JOB
from requests_app.selectors import access_request_expired

TABLE_ROWS = 200  # a job page lists at most this many; its button counts the full set
NOTIFY_MODES = ("normal", "random", "pick")  # Test Mode: Normal / Random failures / Pick emails to fail
# Tells the page's data panel to refresh; fired on <body>, since the element that asked may
# have been replaced by a panel refresh meanwhile.
JOB_CHANGED = json.dumps({"job-changed": {"target": "body"}})


def _button_state(request, *, job: type[JobRun], empty_reason: str) -> dict:
    """A job page's trigger button: {holder, disabled_reason} ("" when it is enabled)."""
    holder = live_run(job=job)
    if not request.user.has_perm(job.run_permission):
        reason = f"You do not have permission to run the {job.job_noun} job."
    elif holder is not None:
        reason = f"A {job.job_noun} run is in progress; the button comes back when it ends."
    else:
        reason = empty_reason
    return {"holder": holder, "disabled_reason": reason}


def banner_context(job: type[JobRun], *, holder: JobRun | None) -> dict:
    """Context for {% include "jobs/_banner.html" %}: {"banner": {job, locked, active,
    poll_seconds}} (active: the run holding the lock, or None)."""
    return {
        "banner": {
            "job": job.job_name,
            "locked": holder is not None,
            "active": holder,
            "poll_seconds": settings.JOB_POLL_SECONDS,
        }
    }


def _run_page(request, *, job: type[JobRun], start, panel, page: str, result: str):
    """POST on a job page: start the job and render its result panel (the whole page
    without HTMX): 200 done, 400 refused options, 409 held (with the holder), 500 failed,
    403 without the permission."""
    if not request.user.has_perm(job.run_permission):
        context, status = {"forbidden": True}, 403
    else:
        try:
            context, status = {"result": start()}, 200
        except NotifyOptionsError as refused:
            context, status = {"refused": str(refused)}, 400
        except LockHeld as held:
            context, status = {"held": held}, 409
        except JobFailed as failed:
            context, status = {"failed": failed}, 500
    context["job"] = job
    if request.htmx:
        response = render(request, result, context, status=status)
    else:
        panel_context = panel()
        context = {**panel_context, **banner_context(job, holder=panel_context["holder"]), **context}
        response = render(request, page, context, status=status)
    response["HX-Trigger"] = JOB_CHANGED
    return response


# --- Revoke Expired -----------------------------------------------------------------


def _revoke_panel_context(request) -> dict:
    """The expired table and the "Run Revoke Job (N)" button."""
    expired = access_request_expired(now=db_now())
    total = expired.count()
    button = _button_state(
        request, job=RevokeExpiredJobRun, empty_reason="Nothing to revoke." if total == 0 else ""
    )
    return {
        "expired": list(expired[:TABLE_ROWS]),
        "expired_total": total,
        "revoked_by": REVOKED_BY_JOB,
        **button,
    }


@require_safe
@view_all_required
def revoke_expired(request):
    context = _revoke_panel_context(request)
    if request.htmx:
        return render(request, "jobs/_revoke_panel.html", context)
    context.update(banner_context(RevokeExpiredJobRun, holder=context["holder"]))
    return render(request, "jobs/revoke_expired.html", context)


@require_POST
@view_all_required
def revoke_run(request):
    return _run_page(
        request,
        job=RevokeExpiredJobRun,
        start=lambda: revoke_expired_run(triggered_by=request.user.get_username()),
        panel=lambda: _revoke_panel_context(request),
        page="jobs/revoke_expired.html",
        result="jobs/_revoke_result.html",
    )


# --- Expiry Notifications ----------------------------------------------------------


def _notifications_panel_context(request, params) -> dict:
    """The pending table and the "Trigger Notification to All (N)" button. `params` (GET or
    POST) carries the Test Mode choice, kept across panel refreshes."""
    pending = pending_notifications()
    button = _button_state(
        request,
        job=NotificationJobRun,
        empty_reason="" if pending else "No requests need a notification right now.",
    )
    mode = params.get("mode", "normal")
    return {
        "pending": pending[:TABLE_ROWS],
        "pending_total": len(pending),
        **button,
        "test_mode": settings.TEST_MODE,
        "mode": mode if mode in NOTIFY_MODES else "normal",
        "fail_emails": {e.strip().lower() for e in params.getlist("failEmail")},
    }


@require_safe
@view_all_required
def expiry_notifications(request):
    context = _notifications_panel_context(request, request.GET)
    if request.htmx:
        return render(request, "jobs/_notifications_panel.html", context)
    context.update(banner_context(NotificationJobRun, holder=context["holder"]))
    return render(request, "jobs/expiry_notifications.html", context)


@require_POST
@view_all_required
def notifications_run(request):
    def start():
        mode = request.POST.get("mode", "normal") or "normal"
        if mode not in NOTIFY_MODES:
            raise NotifyOptionsError(
                f"Unknown test mode {mode[:20]!r}; expected one of {', '.join(NOTIFY_MODES)}."
            )
        fail_emails = [e for e in request.POST.getlist("failEmail") if e.strip()] if mode == "pick" else []
        if mode == "pick" and not fail_emails:
            raise NotifyOptionsError(
                "“Pick emails to fail” is chosen but no email is ticked: tick at least one, or choose Normal."
            )
        return notifications_send(
            triggered_by=request.user.get_username(),
            simulate_failures=mode == "random",
            fail_emails=fail_emails,
        )

    return _run_page(
        request,
        job=NotificationJobRun,
        start=start,
        panel=lambda: _notifications_panel_context(request, request.POST),
        page="jobs/expiry_notifications.html",
        result="jobs/_notifications_result.html",
    )


# --- Job History and the banner ------------------------------------------------------


@require_safe
@view_all_required
def job_history(request):
    """Runs of every job, newest first; ?job= filters one. For HTMX with ?box=1 only a job
    page's "last runs" box."""
    job = request.GET.get("job", "")
    if request.htmx and request.GET.get("box") and job in JOB_MODELS:
        return render(request, "jobs/_last_runs.html", {"job": job, "runs": job_runs_recent(job=job)})
    bad_job = job not in ("", *JOB_MODELS)
    if bad_job:
        job = ""
    page = job_runs_page(job=job or None, page=page_number_or_first(request.GET.get("page")))
    context = {"page": page, "job": job, "bad_job": bad_job, "job_titles": JOB_TITLES}
    return render(request, "jobs/job_history.html", context)


@require_safe
@view_all_required
def run_detail(request, job_id):
    """A page per run: what it did, live while it runs. For HTMX (its own poll while the run
    is in progress) only the run's panel."""
    detail = job_run_detail(job_id=job_id)
    if detail is None:
        raise Http404("No such run.")
    context = {"detail": detail, "run": detail.run, "poll_seconds": settings.JOB_POLL_SECONDS}
    if request.htmx:
        return render(request, "jobs/_run_detail.html", context)
    return render(request, "jobs/run_detail.html", context)


@require_safe
@view_all_required
def banner(request, job):
    """The banner partial, polled every JOB_POLL_SECONDS. ?locked=0|1 is what the page shows;
    when the lock changed since, HX-Trigger job-changed tells the page's panel to refresh."""
    if job not in JOB_MODELS:
        raise Http404("No such job.")
    model = JOB_MODELS[job]
    context = banner_context(model, holder=live_run_cached(job=model))
    response = render(request, "jobs/_banner.html", context)
    shown = request.GET.get("locked")
    if shown in ("0", "1") and (shown == "1") != context["banner"]["locked"]:
        response["HX-Trigger"] = JOB_CHANGED
    return response
