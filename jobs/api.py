"""JSON API of the jobs (the seed's paths and shapes). Stubs are replaced by the issue that owns them."""

from django.http import JsonResponse

from jobs.lock import LockHeld, lock_status
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.revoke import RevokeFailed, revoke_expired_run


def _todo(request):
    return JsonResponse({"message": "Not built yet."}, status=501)


def revoke_expired(request):
    """POST: run the revoke job → 200 {message, revokedCount, revokedAt, jobId}; 409
    {message, activeJob} while another run holds the lock; 500 {message, jobId,
    revokedCount} when the run failed; 403 without the jobs.run_revoke_job permission."""
    if request.method != "POST":
        response = JsonResponse({"message": "Method not allowed. Use POST."}, status=405)
        response["Allow"] = "POST"
        return response
    if not request.user.has_perm("jobs.run_revoke_job"):
        return JsonResponse({"message": "You do not have permission to run the revoke job."}, status=403)
    try:
        result = revoke_expired_run(triggered_by=request.user.get_username())
    except LockHeld as held:
        job = held.active_job or {}
        message = "The revoke job is already running"
        if job:
            message += f" (started by {job['startedBy']} at {job['startedAt']})"
        return JsonResponse({"message": message + ".", "activeJob": held.active_job}, status=409)
    except RevokeFailed as failed:
        return JsonResponse(failed.as_dict(), status=500)
    return JsonResponse(result)


def _job_status(request, job) -> JsonResponse:
    """GET: the lock's state, {isLocked, activeJob: {jobId, startedAt, startedBy,
    triggeredBy, heartbeatAt, processed, total} | null}. A run that stopped beating is
    not "locked": the next run takes it over. Login required (401 from the middleware)."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"message": "Method not allowed. Use GET."}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    return JsonResponse(lock_status(job=job))


def revoke_job_status(request):
    return _job_status(request, RevokeExpiredJobRun)


def notification_job_status(request):
    return _job_status(request, NotificationJobRun)


send_expiry_notifications = _todo
pending_notifications = _todo
