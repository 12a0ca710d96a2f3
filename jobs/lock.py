"""THE job lock: acquire / heartbeat / progress / release / status, for both job tables.

A run holds its job's lock while its row in the run table has Status='InProgress'.
- Acquire is one INSERT … SELECT … WHERE NOT EXISTS, backed by a filtered unique index
  on Status='InProgress': the database decides, in one statement, under real concurrency.
- A running job beats (Heartbeat_At) from a background thread. A row that has not beaten
  for JOB_STALE_AFTER_SECONDS belongs to a crashed server: the next acquire marks it
  Abandoned in the same transaction as its own insert.
- Fencing: every heartbeat, progress update and release is conditioned on
  Job_Id = mine AND Status = 'InProgress'. When that touches no row the lock is lost and
  the job stops before its next write (JobLock.fence()).
- All times come from the database clock (jobs.dialects).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from jobs.dialects import dialect_for
from jobs.models import JobRun

logger = logging.getLogger("jobs.lock")

IN_PROGRESS = JobRun.Status.IN_PROGRESS


class LockHeld(Exception):
    """Another run holds the lock; `active_job` says which."""

    def __init__(self, active_job: dict | None):
        self.active_job = active_job
        who = f" by {active_job['startedBy']} since {active_job['startedAt']}" if active_job else ""
        super().__init__(f"The job is already running{who}.")


class LockLost(Exception):
    """This run's row is no longer InProgress: another run took the lock over."""


def server_identity() -> str:
    """Who runs a job: the server's name and this process's id."""
    return f"{settings.SERVER_NAME}:{os.getpid()}"


def db_now() -> datetime:
    """The database's current UTC time, as an aware datetime."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {dialect_for().now}", [])
        value = cursor.fetchone()[0]
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _now_sql() -> RawSQL:
    return RawSQL(dialect_for().now, [])


def _stale_cutoff_sql() -> RawSQL:
    return RawSQL(dialect_for().ago, [settings.JOB_STALE_AFTER_SECONDS])


def _active_job(run: JobRun) -> dict:
    return {
        "jobId": run.job_id,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "startedBy": run.started_by,
        "triggeredBy": run.triggered_by,
        "heartbeatAt": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "processed": run.processed_count,
        "total": run.total_count,
    }


def _live_run(job: type[JobRun]) -> JobRun | None:
    return (
        job.objects.filter(status=IN_PROGRESS, heartbeat_at__gte=_stale_cutoff_sql())
        .order_by("-started_at")
        .first()
    )


def lock_status(*, job: type[JobRun]) -> dict:
    """{isLocked, activeJob} — a stale InProgress row does not count: it can be taken over."""
    run = _live_run(job)
    return {"isLocked": run is not None, "activeJob": _active_job(run) if run else None}


def lock_acquire(*, job: type[JobRun], triggered_by: str, started_by: str | None = None) -> JobLock:
    """Take the job's lock or raise LockHeld with the holder's details."""
    job_id = str(uuid.uuid4())
    started_by = started_by or server_identity()
    table = connection.ops.quote_name(job._meta.db_table)
    try:
        with transaction.atomic():
            abandoned = list(
                job.objects.filter(status=IN_PROGRESS, heartbeat_at__lt=_stale_cutoff_sql()).values_list(
                    "job_id", "started_by"
                )
            )
            if abandoned:
                job.objects.filter(job_id__in=[a[0] for a in abandoned], status=IN_PROGRESS).update(
                    status=JobRun.Status.ABANDONED,
                    completed_at=_now_sql(),
                    error_message=(
                        f"Abandoned: no heartbeat for {settings.JOB_STALE_AFTER_SECONDS:g} s; "
                        f"taken over by run {job_id} on {started_by}."
                    ),
                )
            with connection.cursor() as cursor:
                cursor.execute(dialect_for().acquire_sql(table), [job_id, started_by, triggered_by])
                acquired = cursor.rowcount == 1
    except IntegrityError:
        acquired = False  # a concurrent caller inserted first: the unique index decided
    if not acquired:
        active = lock_status(job=job)["activeJob"]
        logger.info(
            "lock refused job=%s by=%s holder=%s", job.job_name, started_by, active and active["jobId"]
        )
        raise LockHeld(active)
    for old_job_id, old_by in abandoned:
        logger.warning(
            "lock takeover job=%s jobId=%s server=%s abandoned=%s abandoned_server=%s",
            job.job_name,
            job_id,
            started_by,
            old_job_id,
            old_by,
        )
    logger.info(
        "lock acquired job=%s jobId=%s server=%s triggeredBy=%s",
        job.job_name,
        job_id,
        started_by,
        triggered_by,
    )
    return JobLock(job=job, job_id=job_id, started_by=started_by)


@dataclass
class JobLock:
    """A held lock. Use as a context manager to heartbeat in the background while the
    job works; call release() (in a finally) when done."""

    job: type[JobRun]
    job_id: str
    started_by: str

    def __post_init__(self):
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _mine(self):
        return self.job.objects.filter(job_id=self.job_id, status=IN_PROGRESS)

    def _touch(self, **fields) -> bool:
        """One fenced update; marks the lock lost when the row is no longer ours."""
        if self.lost.is_set():
            return False
        if self._mine().update(heartbeat_at=_now_sql(), **fields) == 1:
            return True
        self.lost.set()
        logger.error("lock lost job=%s jobId=%s server=%s", self.job.job_name, self.job_id, self.started_by)
        return False

    def heartbeat(self) -> bool:
        return self._touch()

    def progress(self, *, processed: int, total: int) -> bool:
        return self._touch(processed_count=processed, total_count=total)

    def fence(self) -> None:
        """Call inside the job's write transaction, before its writes: beats and raises
        LockLost when this run no longer holds the lock, so the transaction rolls back."""
        if not self._touch():
            raise LockLost(f"Run {self.job_id} lost its lock to another run; stopping.")

    def release(self, *, status: str, error: str | None = None, **counts) -> bool:
        """Completed (with counts) or Failed (with the error). Fenced like the rest."""
        self.stop_heartbeat()
        updated = self._mine().update(
            status=status, completed_at=_now_sql(), heartbeat_at=_now_sql(), error_message=error, **counts
        )
        if not updated:
            logger.error("release found no InProgress row job=%s jobId=%s", self.job.job_name, self.job_id)
        return updated == 1

    # --- background heartbeat ----------------------------------------------------

    def _beat_forever(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                if not self.heartbeat():
                    break
        except Exception:
            logger.exception("heartbeat failed job=%s jobId=%s", self.job.job_name, self.job_id)
        finally:
            connection.close()  # this thread's own connection

    def start_heartbeat(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._beat_forever, name=f"heartbeat-{self.job_id[:8]}", daemon=True
            )
            self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait(self, seconds: float) -> None:
        """Sleep (the seed's artificial delays) while beating; returns early if the lock is lost."""
        if seconds > 0:
            self.lost.wait(seconds)

    def __enter__(self) -> JobLock:
        self.start_heartbeat()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_heartbeat()
