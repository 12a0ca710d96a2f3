"""JSON API of the jobs: the seed's paths and camelCase shapes, built from the jobs' results."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import JsonResponse

from accessmgr.http import api_permission, api_view, json_error, page_get, page_params, paged_json
from jobs import notifications
from jobs.lock import LockHeld
from jobs.models import JobRun, NotificationJobRun, RevokeExpiredJobRun
from jobs.revoke import RevokeResult, revoke_expired_run
from jobs.runner import JobFailed
from jobs.status import live_run_cached
from requests_app.auth import VIEW_ALL_PERMISSION

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def active_job_json(run: JobRun | None) -> dict | None:
    """The run holding a lock, as the seed's `activeJob`."""
    if run is None:
        return None
    return {
        "jobId": run.job_id,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "startedBy": run.started_by,
        "triggeredBy": run.triggered_by,
        "heartbeatAt": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "processed": run.processed_count,
        "total": run.total_count,
    }


def conflict_json(held: LockHeld) -> dict:
    """409 body: {message, activeJob}."""
    return {"message": str(held), "activeJob": active_job_json(held.holder)}


def failed_json(failed: JobFailed) -> dict:
    """500 body: {message, jobId} and, for the revoke job, revokedCount."""
    body = {"message": str(failed), "jobId": failed.job_id}
    if "revoked_count" in failed.counts:
        body["revokedCount"] = failed.counts["revoked_count"]
    return body


def revoke_result_json(result: RevokeResult) -> dict:
    return {
        "message": result.message,
        "revokedCount": result.revoked_count,
        "revokedAt": result.revoked_at.isoformat() if result.revoked_at else None,
        "jobId": result.job_id,
    }


def notification_result_json(result: notifications.NotificationResult) -> dict:
    return {
        "message": result.message,
        "jobId": result.job_id,
        "notifiedCount": len(result.sent),
        "failedCount": len(result.failed),
        "skippedCount": result.skipped_count,
        "notifications": [
            {
                "requestId": s.request_id,
                "email": s.email,
                "type": s.reminder,
                "daysLeft": s.days_left,
                "sentAt": s.sent_at.isoformat(),
            }
            for s in result.sent
        ],
        "failures": [{"requestId": f.request_id, "email": f.email, "error": f.error} for f in result.failed],
        # Sent, but the record could not be written: held in doubt (NOTIFY_IN_DOUBT).
        "unrecordedCount": len(result.unrecorded),
        "unrecorded": [
            {"requestId": f.request_id, "email": f.email, "error": f.error} for f in result.unrecorded
        ],
        "performance": {
            "parallelSeconds": round(result.parallel_seconds, 3),
            "estimatedSequentialSeconds": round(result.estimated_sequential_seconds, 3),
            "speedup": result.speedup,
            "workers": result.workers,
        },
    }


def pending_notification_json(p: notifications.PendingNotification) -> dict:
    return {
        "requestId": p.request_id,
        "requestorName": p.requestor_name,
        "requestorEmail": p.email,
        "resourceName": p.resource_name,
        "expiresOn": p.expires_on.isoformat(),
        "daysLeft": p.days_left,
        "notificationCount": p.sent_count,
        "notificationType": p.reminder,
    }


def _run(job: type[JobRun], start, to_json) -> JsonResponse:
    """Start `job`: 200 with its result, 409 while another run holds the lock, 500 when the
    run failed."""
    try:
        return JsonResponse(to_json(start()))
    except LockHeld as held:
        return JsonResponse(conflict_json(held), status=409)
    except JobFailed as failed:
        return JsonResponse(failed_json(failed), status=500)


def _denied(job: type[JobRun]) -> str:
    return f"You do not have permission to run the {job.job_noun} job."


@api_view("POST")
@api_permission(RevokeExpiredJobRun.run_permission, _denied(RevokeExpiredJobRun))
def revoke_expired(request):
    """POST: run the revoke job."""
    start = lambda: revoke_expired_run(triggered_by=request.user.get_username())  # noqa: E731
    return _run(RevokeExpiredJobRun, start, revoke_result_json)


@api_view("POST")
@api_permission(NotificationJobRun.run_permission, _denied(NotificationJobRun))
def send_expiry_notifications(request):
    """POST: run the notification job; test options ?simulateFailures=true and
    ?failEmail=a@x (repeatable) → 400 when TEST_MODE is off or malformed."""
    simulate = request.GET.get("simulateFailures", "").strip().lower()
    if simulate not in _TRUE + _FALSE:
        return json_error("simulateFailures must be true or false.", status=400)

    def start():
        return notifications.notifications_send(
            triggered_by=request.user.get_username(),
            simulate_failures=simulate in _TRUE,
            fail_emails=request.GET.getlist("failEmail"),
        )

    try:
        return _run(NotificationJobRun, start, notification_result_json)
    except notifications.NotifyOptionsError as refused:
        return json_error(str(refused), status=400)


def _job_status(job: type[JobRun]) -> JsonResponse:
    """{isLocked, activeJob}. A display poll: may be LOCK_STATUS_CACHE_SECONDS old."""
    run = live_run_cached(job=job)
    return JsonResponse({"isLocked": run is not None, "activeJob": active_job_json(run)})


@api_view("GET")
def revoke_job_status(request):
    return _job_status(RevokeExpiredJobRun)


@api_view("GET")
def notification_job_status(request):
    return _job_status(NotificationJobRun)


@api_view("GET")
@api_permission(VIEW_ALL_PERMISSION, "You do not have permission to view every request.")
def pending_notifications(request):
    """GET: the requests a run would remind now, soonest expiry first, a page at a time
    (?page=, ?pageSize=; the totals in headers, as every list)."""
    errors = {}
    page_no, page_size = page_params(request, errors)
    if errors:
        return json_error("Invalid query parameters.", status=400, errors=errors)
    page = page_get(Paginator(notifications.pending_notifications(), page_size), page_no, clamp=False)
    return paged_json(request, page, pending_notification_json)
