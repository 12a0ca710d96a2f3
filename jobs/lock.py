"""THE job lock, for every run table: acquire / heartbeat / progress / fence / release.

A run holds its job's lock while its row has Status='InProgress'; a filtered unique index
allows one such row per table. Every write is fenced on Job_Id + InProgress, so a run that
was taken over (no heartbeat for JOB_STALE_AFTER_SECONDS) can no longer write. Times are the
database's. How it works and why: docs/locking.md. Jobs run through jobs.runner, not this.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat
from django.db.models.lookups import LessThan

from jobs.dialects import dialect_for
from jobs.models import JobRun
from jobs.status import live_run, status_changed

logger = logging.getLogger("jobs.lock")

IN_PROGRESS = JobRun.Status.IN_PROGRESS
COMPLETED = JobRun.Status.COMPLETED
FAILED = JobRun.Status.FAILED
ABANDONED = JobRun.Status.ABANDONED
REFUSED = JobRun.Status.REFUSED

REFUSED_MESSAGE = "Refused: run {job_id} on {server} held the lock."
ACQUIRE_ATTEMPTS = 3  # a refusal whose holder has already gone is retried this often
ERROR_MESSAGE_MAX = 4000


class LockHeld(Exception):
    """Another run holds the lock: `holder` is its row (None if it ended meanwhile)."""

    def __init__(self, *, job: type[JobRun], holder: JobRun | None):
        self.job = job
        self.holder = holder
        self.message = f"The {job.job_noun} job is already running."  # pages add the holder themselves
        who = (
            f" (run {holder.job_id}, started by {holder.started_by} at {holder.started_at.isoformat()})"
            if holder
            else ""
        )
        super().__init__(f"{self.message[:-1]}{who}.")


class LockLost(Exception):
    """This run's row is no longer InProgress (another run took the lock over), or its lease
    ran out (no heartbeat confirmed for long enough that a taker might win)."""


lease_clock = time.monotonic  # the run's own clock for its lease (tests may replace it)


def lease_seconds() -> float:
    """How long after a heartbeat was sent the lock is surely still this run's:
    JOB_STALE_AFTER_SECONDS minus JOB_LEASE_MARGIN_SECONDS (default a quarter of it)."""
    stale = settings.JOB_STALE_AFTER_SECONDS
    margin = settings.JOB_LEASE_MARGIN_SECONDS
    return stale - (stale / 4 if margin is None else margin)


@contextmanager
def statement_timeout() -> Iterator[None]:
    """Run the block in one transaction whose statements are each bounded by
    JOB_STATEMENT_TIMEOUT_SECONDS (PostgreSQL, SQL Server; SQLite waits at most its busy
    timeout). Inside a transaction already, the block runs in it as it is."""
    if connection.in_atomic_block:
        yield
        return
    dialect = dialect_for()
    sql = dialect.statement_timeout_sql(settings.JOB_STATEMENT_TIMEOUT_SECONDS)
    with transaction.atomic():
        if sql is not None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        yield
    restore = dialect.session_setup_sql(settings.DB_LOCK_TIMEOUT_MS)
    if sql is not None and restore is not None:  # SQL Server's limit is the session's: put it back
        with connection.cursor() as cursor:
            cursor.execute(restore)


def server_identity() -> str:
    """Who runs a job: the server's name and this process's id, "host:pid"."""
    return f"{settings.SERVER_NAME}:{os.getpid()}"


def _now_sql() -> RawSQL:
    return RawSQL(dialect_for().now, [])


def _log(level: int, message: str, *, event: str, job: type[JobRun], job_id: str | None, **fields) -> None:
    exc_info = fields.pop("exc_info", False)
    extra = {"event": event, "job": job.job_name, "jobId": job_id, **fields}
    logger.log(level, message, extra=extra, exc_info=exc_info)


def _stale() -> LessThan:
    """Not beaten within JOB_STALE_AFTER_SECONDS (a row without a heartbeat counts from its
    start): the complement of Dialect.live_run_sql."""
    cutoff = RawSQL(dialect_for().ago, [settings.JOB_STALE_AFTER_SECONDS])
    return LessThan(Coalesce("heartbeat_at", "started_at"), cutoff)


def _abandon_stale(*, job: type[JobRun], job_id: str, started_by: str) -> list[tuple[str, str]]:
    """Mark InProgress rows that stopped beating Abandoned; (jobId, server) of each. The
    UPDATE repeats the stale condition, so of two concurrent takers only the first abandons."""
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


def _lock_constraint(job: type[JobRun]) -> str:
    return next(c.name for c in job._meta.constraints if c.name.endswith("_one_inprogress"))


def _try_insert(*, job: type[JobRun], job_id: str, started_by: str, triggered_by: str):
    """One attempt in one transaction: abandon stale rows, insert ours. The abandoned rows
    when acquired, None when held."""
    dialect = dialect_for()
    try:
        # SQLite: every atomic block starts with BEGIN IMMEDIATE (settings), so the attempt runs
        # under the write lock. Elsewhere the filtered unique index makes the insert exclusive.
        with transaction.atomic():
            abandoned = _abandon_stale(job=job, job_id=job_id, started_by=started_by)
            with connection.cursor() as cursor:
                cursor.execute(dialect.acquire_sql(job._meta.db_table), [job_id, started_by, triggered_by])
                if cursor.rowcount != 1:
                    transaction.set_rollback(True)
                    return None
    except IntegrityError as exc:
        table, constraint = job._meta.db_table, _lock_constraint(job)
        if dialect.is_unique_violation(exc, table=table, column="Status", constraint=constraint):
            return None  # a concurrent caller inserted first: the unique index decided
        raise
    return abandoned


def _refuse(*, job, job_id: str, started_by: str, triggered_by: str, holder: JobRun | None, record: bool):
    """Record the refused attempt as a Refused row (history only; `record`), log it, raise
    LockHeld. A failure to write the row is logged and does not change the answer."""
    held_by = f"run {holder.job_id} on {holder.started_by}" if holder else "another run"
    message = (
        REFUSED_MESSAGE.format(job_id=holder.job_id, server=holder.started_by)
        if holder
        else ("Refused: another run held the lock.")
    )
    if record:
        try:
            job.objects.create(
                job_id=job_id,
                status=REFUSED,
                started_at=_now_sql(),
                completed_at=_now_sql(),
                started_by=started_by,
                triggered_by=triggered_by,
                error_message=message,
                holder_job_id=holder.job_id if holder else None,
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
    raise LockHeld(job=job, holder=holder or live_run(job=job))


def lock_acquire(
    *, job: type[JobRun], triggered_by: str, started_by: str | None = None, record_refusal: bool = True
) -> JobLock:
    """Take the job's lock or raise LockHeld (after recording a Refused row unless
    `record_refusal` is False). Call it outside any transaction: the InProgress row must
    commit at once, so other servers and this run's heartbeat thread see it."""
    started_by = started_by or server_identity()
    for _attempt in range(ACQUIRE_ATTEMPTS):
        job_id = str(uuid.uuid4())
        issued_at = lease_clock()  # before the row's database time: the lease counts from here
        abandoned = _try_insert(job=job, job_id=job_id, started_by=started_by, triggered_by=triggered_by)
        if abandoned is not None:
            break
        holder = job.objects.filter(status=IN_PROGRESS).order_by("-started_at").first()
        if holder is not None:
            break
    if abandoned is None:
        _refuse(
            job=job,
            job_id=job_id,
            started_by=started_by,
            triggered_by=triggered_by,
            holder=holder,
            record=record_refusal,
        )
    status_changed(job)
    lock = JobLock(job=job, job_id=job_id, started_by=started_by, triggered_by=triggered_by)
    lock.lease_renewed(issued_at)
    for old_job_id, old_by in abandoned:
        lock.log(
            logging.WARNING,
            f"Job {job.job_name} run {job_id} on {started_by} took over run {old_job_id} of {old_by}: "
            f"no heartbeat for {settings.JOB_STALE_AFTER_SECONDS:g} s, marked Abandoned",
            event="job_takeover",
            abandonedJobId=old_job_id,
            abandonedServer=old_by,
        )
    lock.log(
        logging.INFO,
        f"Job {job.job_name} started: run {job_id} on {started_by}, triggered by {triggered_by}",
        event="job_started",
    )
    return lock


@dataclass
class JobLock:
    """A held lock. As a context manager it heartbeats in a background thread; release()
    ends the run. `counts` are the run's counts so far (the runner releases with them).
    The lease: until lease_seconds() after the last confirmed write of the row was sent, on
    this process's monotonic clock, no other run can hold the lock (docs/locking.md)."""

    job: type[JobRun]
    job_id: str
    started_by: str
    triggered_by: str = ""
    counts: dict = field(default_factory=dict)

    def __post_init__(self):
        self.lost = threading.Event()
        self.released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_once = threading.Lock()
        self._lost_why = "taken"
        self._started = time.monotonic()
        self._lease_from = lease_clock()

    def _mine(self):
        return self.job.objects.filter(job_id=self.job_id, status=IN_PROGRESS)

    def log(self, level: int, message: str, *, event: str, **fields) -> None:
        """A log line about this run: job, jobId, server and triggeredBy are always fields."""
        _log(
            level,
            message,
            event=event,
            job=self.job,
            job_id=self.job_id,
            server=self.started_by,
            triggeredBy=self.triggered_by,
            **fields,
        )

    def _mark_lost(self, why: str = "taken") -> None:
        with self._lost_once:
            if self.lost.is_set():
                return
            self._lost_why = why
            self.lost.set()
        reason = (
            f"its lease ran out: no heartbeat confirmed for {lease_seconds():g} s"
            if why == "lease"
            else "its row is no longer InProgress: taken over"
        )
        self.log(
            logging.ERROR,
            f"Job {self.job.job_name} run {self.job_id} on {self.started_by} lost its lock "
            f"({reason}); stopping before the next send or write",
            event="lock_lost",
            reason=why,
        )

    def mark_lost(self) -> None:
        """A fenced write of the job's own found this run's row no longer InProgress."""
        self._mark_lost()

    def lease_renewed(self, issued_at: float) -> None:
        """A write of this run's row, sent at `issued_at` (lease_clock), was confirmed."""
        self._lease_from = max(self._lease_from, issued_at)

    def lease_left(self) -> float:
        """Seconds until the lease ends (negative once it has)."""
        return self._lease_from + lease_seconds() - lease_clock()

    def lease_held(self) -> bool:
        """Whether this run may still start a send or a write: the lock is not lost and the
        lease has not run out. Once it has, the lock is marked lost (for good)."""
        if self.lost.is_set():
            return False
        if self.lease_left() > 0:
            return True
        self._mark_lost("lease")
        return False

    def _touch(self, **fields) -> bool:
        """One fenced update (bounded by the statement timeout outside a transaction);
        marks the lock lost when the row is no longer ours or the lease ran out."""
        if self.released or not self.lease_held():
            return False
        issued_at = lease_clock()
        with statement_timeout():
            updated = self._mine().update(heartbeat_at=_now_sql(), **fields)
        if updated == 1:
            self.lease_renewed(issued_at)
            return True
        self._mark_lost()
        return False

    def heartbeat(self) -> bool:
        return self._touch()

    def progress(self, *, processed: int, total: int | None) -> bool:
        """Record progress ("17 of 40" on the banner); False when the lock is lost. A
        database error is logged, not raised: the lease decides whether the run goes on."""
        try:
            touched = self._touch(processed_count=processed, total_count=total)
        except DatabaseError:
            self.log(
                logging.WARNING,
                f"Job {self.job.job_name} run {self.job_id}: progress not recorded (database error)",
                event="progress_failed",
                exc_info=True,
            )
            if not connection.in_atomic_block:
                connection.close()
            return self.lease_held()
        status_changed(self.job)
        return touched

    def fence(self, *, processed: int | None = None, total: int | None = None) -> None:
        """Call inside the job's write transaction, before its writes: raises LockLost when
        this run no longer holds the lock, so the transaction rolls back. On PostgreSQL the
        row stays locked until the transaction ends. With `processed` the same UPDATE records
        progress, committed or rolled back with the transaction."""
        if processed is None:
            touched = self._touch()
        else:
            touched = self._touch(processed_count=processed, total_count=total)
            status_changed(self.job)
        if not touched:
            raise LockLost(self.lost_error)

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
        """End the run Completed or Failed, with its counts (and error). False when the lock was
        lost (the run's own row is then marked Failed, the taker's left alone) or the row could
        not be written (a database error is logged and retried once on a fresh connection,
        never raised). A second call does nothing."""
        self._check_release(status, counts)
        self.stop_heartbeat()
        if self.released:
            return False
        stopped = status == COMPLETED and self.lost.is_set()
        if stopped:  # its lease ran out: a run that lost its lock never completes
            status, error = FAILED, self.lost_error
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
                self.log(
                    logging.ERROR if attempt == 2 else logging.WARNING,
                    f"Job {self.job.job_name} run {self.job_id}: release as {status} failed (attempt {attempt})",
                    event="release_failed",
                    exc_info=True,
                )
                if connection.in_atomic_block:
                    return False
                connection.close()  # the next query opens a fresh connection
        if updated is None:
            return False
        self.released = True
        status_changed(self.job)
        duration = round(time.monotonic() - self._started, 3)
        fields = {"status": status, "counts": counts, "duration": duration, "error": error}
        if updated == 1:
            shown = ", ".join(f"{k}={v}" for k, v in counts.items())
            self.log(
                logging.INFO if status == COMPLETED else logging.WARNING,
                f"Job {self.job.job_name} finished {status}: run {self.job_id} on {self.started_by} "
                f"in {duration:.3f} s"
                + (f", {shown}" if shown else "")
                + (f", error: {error}" if error else ""),
                event="job_finished",
                **fields,
            )
            return not stopped
        self._mark_lost()
        # Taken over: the taker marked this run Abandoned. Its own row (never the taker's)
        # says what this process knows: it failed, with its counts and why.
        error = error or self.lost_error
        self.job.objects.filter(job_id=self.job_id, status=ABANDONED).update(
            status=FAILED,
            error_message=Concat(
                Value(f"{error} ", output_field=TextField()),
                Coalesce("error_message", Value("", output_field=TextField())),
                output_field=TextField(),
            ),
            **counts,
        )
        self.log(
            logging.ERROR,
            f"Job {self.job.job_name} run {self.job_id} on {self.started_by} ended after {duration:.3f} s "
            f"but had lost its lock: marked Failed ({error})",
            event="job_finished",
            lockLost=True,
            **{**fields, "status": FAILED, "error": error},
        )
        return False

    @property
    def lost_error(self) -> str:
        if self._lost_why == "lease":
            return (
                f"Run {self.job_id} of the {self.job.job_noun} job stopped itself: no heartbeat "
                f"confirmed for {lease_seconds():g} s (database unreachable or slow), so another "
                "run could soon take the lock over."
            )
        return f"Run {self.job_id} of the {self.job.job_noun} job lost its lock to another run; stopped."

    def _beat_forever(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    if not self.heartbeat():
                        break
                except Exception:
                    # A database hiccup: beat again on a fresh connection; the stale limit is
                    # many heartbeats long.
                    self.log(
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
            # RuntimeError: interrupted inside start() before the thread started; nothing to join.
            with suppress(RuntimeError):
                thread.join()

    def wait(self, seconds: float) -> bool:
        """Sleep while beating; returns early, False, if the lock is lost."""
        if seconds > 0:
            self.lost.wait(seconds)
        return not self.lost.is_set()

    def __enter__(self) -> JobLock:
        self.start_heartbeat()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_heartbeat()
