"""GET /healthz for load balancers: no login, no data, just whether this server can
reach its database (`SELECT 1`): 200 {"status": "ok"} or 503 {"status": "unavailable"},
within HEALTHZ_TIMEOUT_SECONDS whatever the database does (the check runs on one thread of
its own; a stuck check is not repeated). GET /healthz?jobs=1, for an uptime monitor, also
answers 503 {"status": "failing", "jobs": [...]} when a job has not succeeded recently enough."""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs.monitoring import jobs_problems

logger = logging.getLogger("accessmgr.health")

_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz")
_check_lock = threading.Lock()
_check: Future | None = None


def _select_one() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()  # back to the pool (or closed): nothing held between probes


def _database_answers() -> str | None:
    """None when the database answered in time, else why not (for the log). Waits for the
    check in flight, if one is (a stalled one, or a concurrent probe's), else starts one."""
    global _check
    with _check_lock:
        if _check is None or _check.done():
            _check = _checker.submit(_select_one)
        check = _check
    try:
        check.result(timeout=settings.HEALTHZ_TIMEOUT_SECONDS)
    except WaitTimeout:
        return f"no answer within {settings.HEALTHZ_TIMEOUT_SECONDS:g} s"
    except DatabaseError as exc:
        return str(exc)
    return None


@login_not_required
@never_cache
@require_safe
def healthz(request):
    error = _database_answers()
    if error is not None:
        # The reason goes to the log, never to the (anonymous) caller.
        logger.warning("health check failed: database unreachable", extra={"error": error})
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
