"""JSON API of the jobs (the seed's paths and shapes). Stubs are replaced by the issue that owns them."""

from django.http import JsonResponse


def _todo(request):
    return JsonResponse({"message": "Not built yet."}, status=501)


revoke_expired = _todo
revoke_job_status = _todo
send_expiry_notifications = _todo
notification_job_status = _todo
pending_notifications = _todo
