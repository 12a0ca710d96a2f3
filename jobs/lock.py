"""THE job lock: acquire / heartbeat / progress / release / status, for both job tables.

A run holds its job's lock while its row in the run table (RevokeExpiredJobRun,
NotificationJobRun) has Status='InProgress'. The two tables are independent locks.

- Acquire is one INSERT … SELECT … WHERE NOT EXISTS (jobs.dialects), backed by a filtered
  unique index on Status='InProgress': the database decides, in one statement, under real
  concurrency. A unique violation means "held", like the NOT EXISTS finding a row.
- A running job beats (Heartbeat_At) from a background thread every JOB_HEARTBEAT_SECONDS.
  A row that has not beaten for JOB_STALE_AFTER_SECONDS belongs to a crashed server: the
  next acquire marks it Abandoned (with an Error_Message) in the same transaction as its
  own insert. A long run that keeps beating is never taken over.
- Fencing: heartbeat, progress, fence and release all update
  WHERE Job_Id = mine AND Status = 'InProgress'. When that touches no row the lock is
  lost: JobLock.lost is set, fence() raises LockLost (so the job's write transaction rolls
  back), and release() leaves the new owner's row alone.
- All times come from the database clock (jobs.dialects), never the app server's.
- Status: lock_status reads the database every time (a refused start's 409 uses it).
  lock_status_cached is for the display polls only (banner, status APIs): one read per
  process per LOCK_STATUS_CACHE_SECONDS, dropped at once when this process acquires,
  progresses or releases the lock.
- A refused attempt is recorded as a Refused row (history only: no lock meaning), so the
  job history shows who was turned away and by which run.

Usage — the primitives::

    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by=user.username)  # LockHeld
    try:
        with lock:                               # heartbeat thread while the job works
            lock.wait(settings.REVOKE_DELAY_SECONDS)
            with transaction.atomic():
                lock.fence()                     # LockLost if taken over: rolls back
                ...writes...
            lock.progress(processed=17, total=40)
        lock.release(status="Completed", revoked_count=n)
    except BaseException as exc:
        lock.release(status="Failed", error=str(exc) or type(exc).__name__)
        raise

or the same in one block, which releases Completed (with lock.counts) or Failed itself::

    with lock_run(job=RevokeExpiredJobRun, triggered_by="run_revoke") as lock:
        ...
        lock.counts["revoked_count"] = n

SIGTERM / Ctrl-C: management commands wrap the job in ``with sigterm_as_interrupt():``.
It turns the first SIGTERM into KeyboardInterrupt("Interrupted (SIGTERM)") in the main
thread, so the job's ``except BaseException`` / ``finally`` releases the lock as Failed
instead of leaving it to go stale; later SIGTERMs are ignored while the job cleans up
(SIGKILL still works, and then the stale limit frees the lock). Ctrl-C already raises
KeyboardInterrupt. Outside the main thread (a web request) it does nothing.

Logs (logger "jobs.lock"): one line per event with human-readable text and the fields in
`extra` for a JSON formatter: event (job_started, job_finished, job_refused,
job_takeover, lock_lost, heartbeat_failed, release_failed), job, jobId, server,
triggeredBy, and for job_finished status, counts, duration (seconds), error.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan

from jobs.dialects import dialect_for
from jobs.models import JobRun

logger = logging.getLogger("jobs.lock")

IN_PROGRESS = JobRun.Status.IN_PROGRESS
COMPLETED = JobRun.Status.COMPLETED
FAILED = JobRun.Status.FAILED
ABANDONED = JobRun.Status.ABANDONED
REFUSED = JobRun.Status.REFUSED

ACQUIRE_ATTEMPTS = 3  # a refusal whose holder has already gone is retried this often
ERROR_MESSAGE_MAX = 4000


class LockHeld(Exception):
    """Another run holds the lock; `active_job` says which (the seed's 409 body)."""

    def __init__(self, active_job: dict | None):
        self.active_job = active_job
        who = f" by {active_job['startedBy']} since {active_job['startedAt']}" if active_job else ""
        super().__init__(f"The job is already running{who}.")


class LockLost(Exception):
    """This run's row is no longer InProgress: another run took the lock over."""


def server_identity() -> str:
    """Who runs a job: the server's name and this process's id, "host:pid"."""
    return f"{settings.SERVER_NAME}:{os.getpid()}"


def _now_sql() -> RawSQL:
    return RawSQL(dialect_for().now, [])


def _stale_cutoff_sql() -> RawSQL:
    return RawSQL(dialect_for().ago, [settings.JOB_STALE_AFTER_SECONDS])


def _log(
    level: int,
    message: str,
    *,
    event: str,
    job: type[JobRun],
    job_id: str | None,
    exc_info: bool = False,
    **fields,
) -> None:
    extra = {"event": event, "job": job.job_name, "jobId": job_id, **fields}
    logger.log(level, message, extra=extra, exc_info=exc_info)


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


def _stale() -> LessThan:
    """Not beaten within JOB_STALE_AFTER_SECONDS. A row without any heartbeat (written
    by the seed's app, which had no Heartbeat_At) counts from its Started_At: the same
    COALESCE(Heartbeat_At, Started_At) as Dialect.live_run_sql, its complement."""
    return LessThan(Coalesce("heartbeat_at", "started_at"), _stale_cutoff_sql())


def _live_run(job: type[JobRun]) -> JobRun | None:
    """The run holding the lock, if any (the same rule as _stale(), in one raw statement:
    this is what every open job page polls)."""
    sql = dialect_for().live_run_sql(connection.ops.quote_name(job._meta.db_table))
    runs = list(job.objects.raw(sql, [settings.JOB_STALE_AFTER_SECONDS]))
    return runs[0] if runs else None


def lock_status(*, job: type[JobRun]) -> dict:
    """{isLocked, activeJob} — a stale InProgress row does not count: it can be taken over."""
    run = _live_run(job)
    return {"isLocked": run is not None, "activeJob": _active_job(run) if run else None}


# The display polls' status: every open job page asks for it every JOB_POLL_SECONDS (the banner,
# the status APIs). On PostgreSQL its one round trip is a third of a poll's database time (the
# session and the user are the other two), so a process answers its polls from its last read for
# LOCK_STATUS_CACHE_SECONDS. Keyed by job model; the generation makes a read that started before
# a change made here unable to store its older answer after that change.
_status_cache_lock = threading.Lock()
_status_cache: dict[type[JobRun], tuple[float, dict]] = {}  # job -> (fresh until, status)
_status_generation: dict[type[JobRun], int] = {}


def _status_changed(job: type[JobRun]) -> None:
    """This process acquired, progressed or released the job's lock: its next display poll
    reads the database, once the change is committed (at once outside a transaction; never
    if it rolls back). Until then the database still shows the old status anyway."""

    def forget() -> None:
        with _status_cache_lock:
            _status_cache.pop(job, None)
            _status_generation[job] = _status_generation.get(job, 0) + 1

    transaction.on_commit(forget)


def lock_status_cached(*, job: type[JobRun]) -> dict:
    """lock_status for display only (the banner partial, the status APIs): the process's last
    read when it is under LOCK_STATUS_CACHE_SECONDS old and this process has not changed the
    lock since. A change made by another process (server, worker, command) shows up to that
    long later; one made by this process shows at once. Never the basis of a decision: a
    trigger is decided by lock_acquire, its 409 reads lock_status. The dict is shared between
    callers: do not change it. Not cached inside a transaction (its view is not for others)."""
    max_age = settings.LOCK_STATUS_CACHE_SECONDS
    if max_age <= 0 or connection.in_atomic_block:
        return lock_status(job=job)
    now = time.monotonic()
    with _status_cache_lock:
        cached = _status_cache.get(job)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = _status_generation.get(job, 0)
    status = lock_status(job=job)
    with _status_cache_lock:
        if _status_generation.get(job, 0) == generation:
            _status_cache[job] = (now + max_age, status)
    return status


def _abandon_stale(*, job: type[JobRun], job_id: str, started_by: str) -> list[tuple[str, str]]:
    """Mark InProgress rows that stopped beating Abandoned; returns (jobId, server) of each.

    The UPDATE repeats the stale condition, so on PostgreSQL a run whose fence holds the
    row lock is re-checked after its transaction commits (and then is fresh, not stale),
    and of two concurrent takers only the first abandons; the second matches nothing,
    then its NOT EXISTS sees the first taker's row and it is refused."""
    stale = job.objects.filter(_stale(), status=IN_PROGRESS)
    abandoned = []
    for old_job_id, old_by in stale.values_list("job_id", "started_by"):
        updated = stale.filter(job_id=old_job_id).update(
            status=ABANDONED,
            completed_at=_now_sql(),
            error_message=(
                f"Abandoned: no heartbeat for {settings.JOB_STALE_AFTER_SECONDS:g} s "
                f"(server {old_by} presumed dead); taken over by run {job_id} on {started_by}."
            ),
        )
        if updated:
            abandoned.append((old_job_id, old_by))
    return abandoned


def _try_insert(*, job: type[JobRun], job_id: str, started_by: str, triggered_by: str):
    """One attempt: abandon stale rows and insert ours, in one transaction.
    Returns the abandoned rows when acquired, None when held."""
    table = connection.ops.quote_name(job._meta.db_table)
    try:
        # SQLite: settings open every atomic block with BEGIN IMMEDIATE, so the whole
        # attempt runs under the database's write lock. PostgreSQL / SQL Server: READ
        # COMMITTED; the filtered unique index is what makes the insert exclusive.
        with transaction.atomic():
            abandoned = _abandon_stale(job=job, job_id=job_id, started_by=started_by)
            with connection.cursor() as cursor:
                cursor.execute(dialect_for().acquire_sql(table), [job_id, started_by, triggered_by])
                if cursor.rowcount != 1:
                    transaction.set_rollback(True)  # held: keep nothing of this attempt
                    return None
    except IntegrityError:
        return None  # a concurrent caller inserted first: the unique index decided
    return abandoned


def _refuse(*, job: type[JobRun], job_id: str, started_by: str, triggered_by: str, holder: JobRun | None):
    """Record the refused attempt (a Refused row, so the history shows it), log it and
    raise LockHeld with the holder's details. The row is history only: a failure to
    write it is logged and does not change the answer."""
    held_by = f"run {holder.job_id} on {holder.started_by}" if holder else "another run"
    try:
        job.objects.create(
            job_id=job_id,
            status=REFUSED,
            started_at=_now_sql(),
            completed_at=_now_sql(),
            started_by=started_by,
            triggered_by=triggered_by,
            error_message=f"Refused: {held_by} held the lock.",
        )
    except DatabaseError:
        logger.warning("could not record the refused run %s", job_id, exc_info=True)
    _log(
        logging.INFO,
        f"Job {job.job_name} refused for {triggered_by} on {started_by}: {held_by} holds the lock",
        event="job_refused",
        job=job,
        job_id=job_id,
        server=started_by,
        triggeredBy=triggered_by,
        holderJobId=holder.job_id if holder else None,
        holderServer=holder.started_by if holder else None,
    )
    raise LockHeld(_active_job(holder) if holder else lock_status(job=job)["activeJob"])


def lock_acquire(*, job: type[JobRun], triggered_by: str, started_by: str | None = None) -> JobLock:
    """Take the job's lock or raise LockHeld with the holder's details.

    Call it outside any transaction: the InProgress row must be committed at once, so
    other servers (and this run's own heartbeat thread) see it."""
    started_by = started_by or server_identity()
    for _attempt in range(ACQUIRE_ATTEMPTS):
        job_id = str(uuid.uuid4())
        abandoned = _try_insert(job=job, job_id=job_id, started_by=started_by, triggered_by=triggered_by)
        if abandoned is not None:
            break
        holder = job.objects.filter(status=IN_PROGRESS).order_by("-started_at").first()
        if holder is not None:
            break
        # Refused, but the holder finished in the meantime: try again.
    if abandoned is None:
        _refuse(job=job, job_id=job_id, started_by=started_by, triggered_by=triggered_by, holder=holder)
    _status_changed(job)

    for old_job_id, old_by in abandoned:
        _log(
            logging.WARNING,
            f"Job {job.job_name} run {job_id} on {started_by} took over run {old_job_id} "
            f"of {old_by}: no heartbeat for {settings.JOB_STALE_AFTER_SECONDS:g} s, marked Abandoned",
            event="job_takeover",
            job=job,
            job_id=job_id,
            server=started_by,
            triggeredBy=triggered_by,
            abandonedJobId=old_job_id,
            abandonedServer=old_by,
        )
    _log(
        logging.INFO,
        f"Job {job.job_name} started: run {job_id} on {started_by}, triggered by {triggered_by}",
        event="job_started",
        job=job,
        job_id=job_id,
        server=started_by,
        triggeredBy=triggered_by,
    )
    return JobLock(job=job, job_id=job_id, started_by=started_by, triggered_by=triggered_by)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return str(exc) or "Interrupted (Ctrl-C)"
    return str(exc) or type(exc).__name__


@dataclass
class JobLock:
    """A held lock. Use as a context manager to heartbeat in the background while the
    job works; call release() when done (or use lock_run, which does it)."""

    job: type[JobRun]
    job_id: str
    started_by: str
    triggered_by: str = ""
    counts: dict = field(default_factory=dict)  # lock_run releases Completed with these

    def __post_init__(self):
        self.lost = threading.Event()
        self.released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_once = threading.Lock()
        self._started = time.monotonic()

    def _mine(self):
        return self.job.objects.filter(job_id=self.job_id, status=IN_PROGRESS)

    def _log(self, level: int, message: str, *, event: str, exc_info: bool = False, **fields) -> None:
        """A log line about this run: its job, jobId, server and trigger are always fields."""
        _log(
            level,
            message,
            event=event,
            job=self.job,
            job_id=self.job_id,
            server=self.started_by,
            triggeredBy=self.triggered_by,
            exc_info=exc_info,
            **fields,
        )

    def _mark_lost(self) -> None:
        with self._lost_once:
            if self.lost.is_set():
                return
            self.lost.set()
        self._log(
            logging.ERROR,
            f"Job {self.job.job_name} run {self.job_id} on {self.started_by} lost its lock "
            "(its row is no longer InProgress: taken over); stopping before the next write",
            event="lock_lost",
        )

    def _touch(self, **fields) -> bool:
        """One fenced update; marks the lock lost when the row is no longer ours."""
        if self.lost.is_set() or self.released:
            return False
        if self._mine().update(heartbeat_at=_now_sql(), **fields) == 1:
            return True
        self._mark_lost()
        return False

    def heartbeat(self) -> bool:
        return self._touch()

    def progress(self, *, processed: int, total: int | None) -> bool:
        """Record progress ("17 of 40" on the banner); False when the lock is lost."""
        touched = self._touch(processed_count=processed, total_count=total)
        _status_changed(self.job)
        return touched

    def fence(self, *, processed: int | None = None, total: int | None = None) -> None:
        """Call inside the job's write transaction, before its writes: beats and raises
        LockLost when this run no longer holds the lock, so the transaction rolls back.
        On PostgreSQL the fenced row stays locked until the transaction ends, so a taker
        cannot abandon this run between the fence and the commit. With `processed` (and
        `total`) the same UPDATE records progress, which then shows when the transaction
        commits and rolls back with it: one write of the run's row per chunk, not two."""
        if processed is None:
            touched = self._touch()
        else:
            touched = self._touch(processed_count=processed, total_count=total)
            _status_changed(self.job)
        if not touched:
            raise LockLost(f"Run {self.job_id} of job {self.job.job_name} lost its lock; stopping.")

    def _check_release(self, status: str, counts: dict) -> None:
        if status not in (COMPLETED, FAILED):
            raise ValueError(f"release status must be {COMPLETED!r} or {FAILED!r}, got {status!r}")
        allowed = {f.name for f in self.job._meta.concrete_fields if f.name.endswith("_count")}
        unknown = set(counts) - allowed
        if unknown:
            raise ValueError(
                f"{self.job.__name__} has no count(s) {sorted(unknown)}; expected some of {sorted(allowed)}"
            )

    def release(self, *, status: str, error: str | None = None, **counts) -> bool:
        """Completed (with counts) or Failed (with the error); sets Completed_At. Fenced
        like the rest: False (and the other run's row untouched) when the lock was lost.
        Safe to call twice: the second call does nothing. A database error is logged
        and retried once on a fresh connection, never raised over the job's own error."""
        self._check_release(status, counts)
        self.stop_heartbeat()
        if self.released:
            return False
        if error is not None:
            error = error[:ERROR_MESSAGE_MAX]
        updated = None
        for attempt in (1, 2):
            try:
                updated = self._mine().update(
                    status=status,
                    completed_at=_now_sql(),
                    heartbeat_at=_now_sql(),
                    error_message=error,
                    **counts,
                )
                break
            except DatabaseError:
                self._log(
                    logging.ERROR if attempt == 2 else logging.WARNING,
                    f"Job {self.job.job_name} run {self.job_id}: release as {status} failed "
                    f"(attempt {attempt})",
                    event="release_failed",
                    exc_info=True,
                )
                if connection.in_atomic_block:
                    return False
                connection.close()  # the next query opens a fresh connection
        if updated is None:
            return False
        self.released = True
        _status_changed(self.job)
        duration = round(time.monotonic() - self._started, 3)
        if updated == 1:
            shown = ", ".join(f"{k}={v}" for k, v in counts.items())
            self._log(
                logging.INFO if status == COMPLETED else logging.WARNING,
                f"Job {self.job.job_name} finished {status}: run {self.job_id} on {self.started_by} "
                f"in {duration:.3f} s"
                + (f", {shown}" if shown else "")
                + (f", error: {error}" if error else ""),
                event="job_finished",
                status=status,
                counts=counts,
                duration=duration,
                error=error,
            )
            return True
        self._mark_lost()
        self._log(
            logging.ERROR,
            f"Job {self.job.job_name} run {self.job_id} on {self.started_by} ended {status} after "
            f"{duration:.3f} s but had lost its lock; its row was left as the taker set it",
            event="job_finished",
            status=status,
            counts=counts,
            duration=duration,
            error=error,
            lockLost=True,
        )
        return False

    # --- background heartbeat ----------------------------------------------------

    def _beat_forever(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    if not self.heartbeat():
                        break
                except Exception:
                    # A database hiccup: keep beating on a fresh connection; the stale
                    # limit is many heartbeats long.
                    self._log(
                        logging.WARNING,
                        f"Job {self.job.job_name} run {self.job_id}: heartbeat failed, retrying",
                        event="heartbeat_failed",
                        exc_info=True,
                    )
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    def start_heartbeat(self) -> None:
        if self._thread is None and not self.released:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._beat_forever, name=f"heartbeat-{self.job_id[:8]}", daemon=True
            )
            self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            # RuntimeError: interrupted (SIGTERM, Ctrl-C) inside start() before the thread
            # had started; nothing to join, and if it starts now it sees _stop and ends.
            with suppress(RuntimeError):
                thread.join()

    def wait(self, seconds: float) -> bool:
        """Sleep (the seed's artificial delays) while beating; returns early, False, if
        the lock is lost. True while the lock is still held."""
        if seconds > 0:
            self.lost.wait(seconds)
        return not self.lost.is_set()

    def __enter__(self) -> JobLock:
        self.start_heartbeat()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_heartbeat()


@contextmanager
def lock_run(*, job: type[JobRun], triggered_by: str, started_by: str | None = None) -> Iterator[JobLock]:
    """Acquire (LockHeld escapes before the block runs), heartbeat while the block runs,
    then release Completed with `lock.counts`, or Failed with the error and re-raise."""
    lock = lock_acquire(job=job, triggered_by=triggered_by, started_by=started_by)
    try:
        with lock:
            yield lock
    except BaseException as exc:
        lock.release(status=FAILED, error=_error_text(exc))
        raise
    lock.release(status=COMPLETED, **lock.counts)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, the first SIGTERM raises KeyboardInterrupt("Interrupted (SIGTERM)")
    in the main thread, so the job's cleanup releases its lock as Failed. Further SIGTERMs
    are ignored until the block ends. Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def interrupt(signum, frame):
        if received:
            logger.warning("SIGTERM again while cleaning up; ignored", extra={"event": "sigterm_ignored"})
            return
        received.append(signum)
        logger.warning("SIGTERM received; interrupting the job", extra={"event": "sigterm"})
        raise KeyboardInterrupt("Interrupted (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
