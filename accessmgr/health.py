"""GET /healthz for load balancers: no login, no data, just whether this server can
reach its database (`SELECT 1`). 200 {"status": "ok"} or 503 {"status": "unavailable"}.
GET /healthz?jobs=1 for an uptime monitor also answers 503 {"status": "failing", "jobs": [...]}
when a job has not succeeded recently enough (jobs.monitoring.jobs_problems)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs.monitoring import jobs_problems

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
    if request.GET.get("jobs"):
        return jobs_health()
    return JsonResponse({"status": "ok"})


def jobs_health() -> JsonResponse:
    """The dead-man check of the jobs: 503 naming each failing job and why, else 200."""
    problems = jobs_problems()
    if problems:
        failing = [{"job": problem.job, "reason": problem.reason} for problem in problems]
        return JsonResponse({"status": "failing", "jobs": failing}, status=503)
    return JsonResponse({"status": "ok"})
