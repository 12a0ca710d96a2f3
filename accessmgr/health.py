"""GET /healthz for load balancers: no login, no data, just whether this server can
reach its database (`SELECT 1`). 200 {"status": "ok"} or 503 {"status": "unavailable"}."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("accessmgr.health")


@login_not_required
@never_cache
@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # The reason goes to the log, never to the (anonymous) caller.
        logger.warning("health check failed: database unreachable", extra={"error": str(exc)})
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
