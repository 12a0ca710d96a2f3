"""Which run holds a job's lock, as the pages and status APIs show it. `live_run` reads the
database; `live_run_cached` is for display polls only and may be LOCK_STATUS_CACHE_SECONDS old
unless this process changed the lock since (docs/configuration.md)."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import connection, transaction

from jobs.dialects import dialect_for
from jobs.models import JobRun

_cache_lock = threading.Lock()
_cache: dict[type[JobRun], tuple[float, JobRun | None]] = {}  # job -> (fresh until, run)
_generation: dict[type[JobRun], int] = {}  # bumped by every change made here


def live_run(*, job: type[JobRun]) -> JobRun | None:
    """The InProgress run that has beaten within JOB_STALE_AFTER_SECONDS, or None."""
    sql = dialect_for().live_run_sql(connection.ops.quote_name(job._meta.db_table))
    runs = list(job.objects.raw(sql, [settings.JOB_STALE_AFTER_SECONDS]))
    return runs[0] if runs else None


def status_changed(job: type[JobRun]) -> None:
    """Call after this process acquired, progressed or released `job`'s lock: its next
    cached read goes to the database once the change commits (never if it rolls back)."""

    def forget() -> None:
        with _cache_lock:
            _cache.pop(job, None)
            _generation[job] = _generation.get(job, 0) + 1

    transaction.on_commit(forget)


def live_run_cached(*, job: type[JobRun]) -> JobRun | None:
    """live_run for display only: never the basis of a decision. The run is shared between
    callers: do not change it. Not cached inside a transaction."""
    max_age = settings.LOCK_STATUS_CACHE_SECONDS
    if max_age <= 0 or connection.in_atomic_block:
        return live_run(job=job)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(job)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = _generation.get(job, 0)
    run = live_run(job=job)
    with _cache_lock:
        if _generation.get(job, 0) == generation:
            _cache[job] = (now + max_age, run)
    return run
