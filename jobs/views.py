"""Job pages: Revoke Expired, Expiry Notifications, Job History, and the polling banner
both job pages include."""

import json

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST, require_safe

from accessmgr.db import db_now
from jobs.lock import LockHeld, LockLost, lock_status, lock_status_cached
from jobs.models import JOB_MODELS, NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import (
    NotificationJobFailed,
    NotifyOptionsError,
    notifications_send,
    pending_notifications,
)
from jobs.revoke import RevokeFailed, revoke_expired_run
from jobs.selectors import JOB_TITLES, job_runs_page, job_runs_recent
from requests_app.selectors import access_request_expired

# --- Revoke Expired -----------------------------------------------------------------

REVOKE_PERMISSION = "jobs.run_revoke_job"
REVOKE_TABLE_ROWS = 200  # the page lists at most this many; the button's count is the full set
# Tells the page's data panel to refresh. Fired on <body>: the button that posted may
# have been replaced by a panel refresh while its run was going.
JOB_CHANGED = json.dumps({"job-changed": {"target": "body"}})


def _when(iso: str | None):
    return parse_datetime(iso) if iso else None


def _conflict_context(held: LockHeld) -> dict:
    """The result panel of a refused run: who holds the lock, since when."""
    job = held.active_job
    return {"conflict": True, "active_job": job, "active_started_at": _when(job and job["startedAt"])}


def _button_state(request, *, job, permission: str, title: str, empty_reason: str) -> dict:
    """A job page's trigger button: {lock, can_run, disabled_reason} ("" when it is enabled).
    Without the permission, while a run holds the lock, or with nothing to do, it is
    disabled and says why."""
    status = lock_status(job=job)
    can_run = request.user.has_perm(permission)
    if not can_run:
        reason = f"You do not have permission to run the {title} job."
    elif status["isLocked"]:
        reason = f"A {title} run is in progress; the button comes back when it ends."
    else:
        reason = empty_reason
    return {"lock": status, "can_run": can_run, "disabled_reason": reason}


def _revoke_panel_context(request) -> dict:
    """The expired table and the state of the "Run Revoke Job (N)" button."""
    expired = access_request_expired(now=db_now())
    total = expired.count()
    button = _button_state(
        request,
        job=RevokeExpiredJobRun,
        permission=REVOKE_PERMISSION,
        title="revoke",
        empty_reason="Nothing to revoke." if total == 0 else "",
    )
    return {"expired": list(expired[:REVOKE_TABLE_ROWS]), "expired_total": total, **button}


@require_safe
def revoke_expired(request):
    """The Revoke Expired page; for HTMX (the refresh on job-changed) only its data panel."""
    context = _revoke_panel_context(request)
    if request.htmx:
        return render(request, "jobs/_revoke_panel.html", context)
    return render(
        request, "jobs/revoke_expired.html", {**context, **banner_context("revoke", status=context["lock"])}
    )


@require_POST
def revoke_run(request):
    """Run the job and show its result panel: 200 done, 409 another run holds the lock
    (with its details), 500 the run failed, 403 without the permission. The page's
    htmx-config swaps those codes into the result panel too. Without HTMX (a plain
    form post) the whole page is rendered with the result."""
    if not request.user.has_perm(REVOKE_PERMISSION):
        context, status = {"forbidden": True}, 403
    else:
        try:
            result = revoke_expired_run(triggered_by=request.user.get_username())
            context, status = {"result": result, "revoked_at": _when(result["revokedAt"])}, 200
        except LockHeld as held:
            context, status = _conflict_context(held), 409
        except RevokeFailed as failed:
            context, status = {"failed": failed}, 500
    if request.htmx:
        response = render(request, "jobs/_revoke_result.html", context, status=status)
    else:
        panel = _revoke_panel_context(request)
        page = {**panel, **banner_context("revoke", status=panel["lock"]), **context}
        response = render(request, "jobs/revoke_expired.html", page, status=status)
    response["HX-Trigger"] = JOB_CHANGED
    return response


# --- Expiry Notifications ----------------------------------------------------------

NOTIFY_PERMISSION = "jobs.run_notification_job"
NOTIFY_TABLE_ROWS = 200  # the page lists at most this many; the button's count is the full set
NOTIFY_MODES = ("normal", "random", "pick")  # Test Mode: Normal / Random failures / Pick emails to fail


def _notifications_panel_context(request, params) -> dict:
    """The pending table and the state of the "Trigger Notification to All (N)" button.
    `params` (GET or POST) carries the Test Mode choice, kept across panel refreshes."""
    pending = pending_notifications()
    button = _button_state(
        request,
        job=NotificationJobRun,
        permission=NOTIFY_PERMISSION,
        title="notification",
        empty_reason="" if pending else "No requests need a notification right now.",
    )
    mode = params.get("mode", "normal")
    return {
        "pending": pending[:NOTIFY_TABLE_ROWS],
        "pending_total": len(pending),
        **button,
        "test_mode": settings.TEST_MODE,
        "mode": mode if mode in NOTIFY_MODES else "normal",
        "fail_emails": {e.strip().lower() for e in params.getlist("failEmail")},
    }


@require_safe
def expiry_notifications(request):
    """The Expiry Notifications page; for HTMX (the refresh on job-changed) only its data panel."""
    context = _notifications_panel_context(request, request.GET)
    if request.htmx:
        return render(request, "jobs/_notifications_panel.html", context)
    return render(
        request,
        "jobs/expiry_notifications.html",
        {**context, **banner_context("notifications", status=context["lock"])},
    )


@require_POST
def notifications_run(request):
    """Run the job with the page's Test Mode choice and show its result panel: 200 done
    (sent and failed lists, performance), 400 test mode refused or bad input ("pick" with no
    email ticked included: nothing runs), 409 another
    run holds the lock (with its details), 500 the run failed, 403 without the permission.
    The page's htmx-config swaps those codes into the result panel too, like the API's
    codes. Without HTMX (a plain form post) the whole page is rendered with the result."""
    mode = request.POST.get("mode", "normal") or "normal"
    fail_emails = [e for e in request.POST.getlist("failEmail") if e.strip()] if mode == "pick" else []
    if not request.user.has_perm(NOTIFY_PERMISSION):
        context, status = {"forbidden": True}, 403
    elif mode not in NOTIFY_MODES:
        refused = f"Unknown test mode {mode[:20]!r}; expected one of {', '.join(NOTIFY_MODES)}."
        context, status = {"refused": refused}, 400
    elif mode == "pick" and not fail_emails:
        refused = (
            "“Pick emails to fail” is chosen but no email is ticked: tick at least one, or choose Normal."
        )
        context, status = {"refused": refused}, 400
    else:
        try:
            result = notifications_send(
                triggered_by=request.user.get_username(),
                simulate_failures=mode == "random",
                fail_emails=fail_emails,
            )
            sent_rows = [{**n, "sent_at": _when(n["sentAt"])} for n in result["notifications"]]
            context, status = {"result": result, "sent_rows": sent_rows}, 200
        except NotifyOptionsError as refused:
            context, status = {"refused": str(refused)}, 400
        except LockHeld as held:
            context, status = _conflict_context(held), 409
        except (NotificationJobFailed, LockLost) as failed:
            context, status = {"failed": str(failed)}, 500
    if request.htmx:
        response = render(request, "jobs/_notifications_result.html", context, status=status)
    else:
        panel = _notifications_panel_context(request, request.POST)
        page = {**panel, **banner_context("notifications", status=panel["lock"]), **context}
        response = render(request, "jobs/expiry_notifications.html", page, status=status)
    response["HX-Trigger"] = JOB_CHANGED
    return response


@require_safe
def job_history(request):
    """Runs of both jobs, newest first, 50 a page; ?job= filters one job. For HTMX with
    ?box=1 only a job page's "last runs" box (it reloads itself when a run ends)."""
    job = request.GET.get("job", "")
    if request.htmx and request.GET.get("box") and job in JOB_MODELS:
        return render(request, "jobs/_last_runs.html", {"job": job, "runs": job_runs_recent(job=job)})
    bad_job = job not in ("", *JOB_MODELS)
    if bad_job:
        job = ""
    page = job_runs_page(job=job or None, page=request.GET.get("page"))
    context = {"page": page, "job": job, "bad_job": bad_job, "job_titles": JOB_TITLES}
    return render(request, "jobs/job_history.html", context)


# --- The polling job banner (job lock) --------------------------------------------------


def banner_context(job: str, *, status: dict | None = None) -> dict:
    """Context for {% include "jobs/_banner.html" %} on a job page ("revoke" or
    "notifications"): {"banner": {job, locked, active, started_at, poll_seconds}}. One key,
    so it never clashes with the page's own context; banner.locked tells the page to
    disable its trigger button. The contract is in the comment at the top of _banner.html.
    A page that has just read the lock's status passes it, so it is not read twice."""
    if status is None:
        status = lock_status(job=JOB_MODELS[job])
    active = status["activeJob"]
    return {
        "banner": {
            "job": job,
            "locked": status["isLocked"],
            "active": active,
            "started_at": parse_datetime(active["startedAt"]) if active and active["startedAt"] else None,
            "poll_seconds": settings.JOB_POLL_SECONDS,
        }
    }


@require_safe
def banner(request, job):
    """The banner partial, polled by itself every JOB_POLL_SECONDS. ?locked=0|1 is the
    state the page shows; when the lock has changed since, HX-Trigger: job-changed tells
    the page's data panel to refresh. Login required (middleware); unknown job → 404.
    Display only, so the status may be this process's read of up to
    LOCK_STATUS_CACHE_SECONDS ago (jobs.lock.lock_status_cached)."""
    if job not in JOB_MODELS:
        raise Http404("No such job.")
    context = banner_context(job, status=lock_status_cached(job=JOB_MODELS[job]))
    response = render(request, "jobs/_banner.html", context)
    shown = request.GET.get("locked")
    if shown in ("0", "1") and (shown == "1") != context["banner"]["locked"]:
        response["HX-Trigger"] = "job-changed"
    return response
