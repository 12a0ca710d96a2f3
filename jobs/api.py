"""JSON API of the jobs (the seed's paths and shapes)."""

from django.http import JsonResponse

from accessmgr.http import method_not_allowed
from jobs import notifications
from jobs.lock import LockHeld, LockLost, lock_status_cached
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.revoke import RevokeFailed, revoke_expired_run


def _conflict(held: LockHeld, *, job_title: str) -> JsonResponse:
    """409 {message, activeJob}: the seed's answer to a second start."""
    job = held.active_job or {}
    message = f"The {job_title} job is already running"
    if job:
        message += f" (started by {job['startedBy']} at {job['startedAt']})"
    return JsonResponse({"message": message + ".", "activeJob": held.active_job}, status=409)


def revoke_expired(request):
    """POST: run the revoke job → 200 {message, revokedCount, revokedAt, jobId}; 409
    {message, activeJob} while another run holds the lock; 500 {message, jobId,
    revokedCount} when the run failed; 403 without the jobs.run_revoke_job permission."""
    if request.method != "POST":
        return method_not_allowed("POST")
    if not request.user.has_perm("jobs.run_revoke_job"):
        return JsonResponse({"message": "You do not have permission to run the revoke job."}, status=403)
    try:
        result = revoke_expired_run(triggered_by=request.user.get_username())
    except LockHeld as held:
        return _conflict(held, job_title="revoke")
    except RevokeFailed as failed:
        return JsonResponse(failed.as_dict(), status=500)
    return JsonResponse(result)


def _job_status(request, job) -> JsonResponse:
    """GET: the lock's state, {isLocked, activeJob: {jobId, startedAt, startedBy,
    triggeredBy, heartbeatAt, processed, total} | null}. A run that stopped beating is
    not "locked": the next run takes it over. Login required (401 from the middleware).
    A display poll: the status may be this process's read of up to LOCK_STATUS_CACHE_SECONDS
    ago (jobs.lock.lock_status_cached); a start is decided by the lock itself."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET", "HEAD")
    return JsonResponse(lock_status_cached(job=job))


def revoke_job_status(request):
    return _job_status(request, RevokeExpiredJobRun)


def notification_job_status(request):
    return _job_status(request, NotificationJobRun)


# --- Expiry notifications --------------------------------------------------------------

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def send_expiry_notifications(request):
    """POST: run the notification job → 200 {message, jobId, notifiedCount, failedCount,
    skippedCount, notifications, failures, performance}; 409 {message, activeJob} while
    another run holds the lock; 400 for test parameters (?simulateFailures=true,
    ?failEmail=a@x&failEmail=b@y) when TEST_MODE is off or malformed; 500 {message, jobId}
    when the run failed; 403 without the jobs.run_notification_job permission."""
    if request.method != "POST":
        return method_not_allowed("POST")
    if not request.user.has_perm("jobs.run_notification_job"):
        return JsonResponse(
            {"message": "You do not have permission to run the notification job."}, status=403
        )
    simulate = request.GET.get("simulateFailures", "").strip().lower()
    if simulate not in _TRUE + _FALSE:
        return JsonResponse({"message": "simulateFailures must be true or false."}, status=400)
    try:
        result = notifications.notifications_send(
            triggered_by=request.user.get_username(),
            simulate_failures=simulate in _TRUE,
            fail_emails=request.GET.getlist("failEmail"),
        )
    except notifications.NotifyOptionsError as refused:
        return JsonResponse({"message": str(refused)}, status=400)
    except LockHeld as held:
        return _conflict(held, job_title="notification")
    except notifications.NotificationJobFailed as failed:
        return JsonResponse({"message": str(failed), "jobId": failed.job_id}, status=500)
    except LockLost as lost:
        return JsonResponse({"message": str(lost)}, status=500)
    return JsonResponse(result)


def pending_notifications(request):
    """GET: the requests a run would remind now, soonest expiry first: [{requestId,
    requestorName, requestorEmail, resourceName, expiresOn, daysLeft, notificationCount,
    notificationType}] (notificationType: the reminder due, e.g. "30-Day Reminder")."""
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET", "HEAD")
    return JsonResponse([p.as_json() for p in notifications.pending_notifications()], safe=False)
