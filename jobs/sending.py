"""Send many emails in parallel under a job's lock and record each one sent: the sending
machinery of the notification job, generic over the item sent.

The run's own thread claims each notice (a NotificationClaim row, fenced on the run) just
before a pool thread may send it, a few at a time as threads come free. Pool threads only
send; they use no database connection. Each send takes one of at most NOTIFY_SMTP_CONNECTIONS
email connections (opened on first use, reused, closed after an error and at the end of the
run) and hands the sent item to one recorder thread, which writes the records in batches,
fenced on the run, on its own connection, one transaction per batch, deleting their claims.
A failed send is never recorded and its claim is released; a record that fails is retried,
never reported as a failed send, and its claim stays: the notice is "in doubt" and is not
sent again by another run. What a crash can lose: docs/notifications.md.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, connection

from accessmgr.db import db_datetime
from jobs.dialects import Dialect, dialect_for
from jobs.emails import PreparedEmail
from jobs.lock import IN_PROGRESS, JobLock, LockLost, statement_timeout
from jobs.models import NotificationClaim

logger = logging.getLogger("jobs.sending")

PROGRESS_EVERY_SECONDS = 1.0  # at most one progress UPDATE a second, plus one at the end
RECORD_BATCH_ROWS = 500  # a recorder batch: at most this many rows …
RECORD_BATCH_SECONDS = 0.05  # … or what arrived within this long after its first row
RECORD_ATTEMPTS = 5  # a batch whose write fails is retried, NOTIFY_RECORD_RETRY_SECONDS × 1, 2, 4 …
RECORD_COLUMNS = 6  # parameters per row of Dialect.notifications_record_sql
WARM_TIMEOUT_SECONDS = 60

# A connection the server dropped (idle timeout, restart): re-opened once for the same send.
BROKEN_CONNECTION = (smtplib.SMTPServerDisconnected, ConnectionError)


class SimulatedFailure(Exception):
    """A send failed on purpose (test mode)."""


@dataclass
class Outcome:
    """What became of one item. "pending": sent, its record not written yet; then "sent"
    (recorded), "skipped" (recorded meanwhile by someone else) or "unrecorded" (sent, but
    the record could not be written: its claim stays, so it is in doubt). Or "failed",
    "cancelled" (never sent) or, before any send, "skipped" (claimed by an earlier run)."""

    item: Any
    status: str
    error: str = ""
    sent_at: datetime | None = None  # "sent": Sent_At as recorded
    claim_id: int | None = None  # its NotificationClaim row (jobs.sending.Claims)


# --- Email connections ----------------------------------------------------------------------


class EmailConnections:
    """At most `size` connections of EMAIL_BACKEND, shared by the senders: opened on first
    use, reused, closed after an error (re-opened by the next send) and by close()."""

    def __init__(self, size: int):
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._made: list = []
        self._count_lock = threading.Lock()
        self.opened = 0  # connections opened, re-openings included

    def _open(self, backend) -> None:
        if backend.open():  # True when it opened a new connection (SMTP)
            with self._count_lock:
                self.opened += 1

    def _send(self, backend, message: EmailMessage) -> None:
        self._open(backend)
        if backend.send_messages([message]) != 1:
            raise smtplib.SMTPException("the email backend did not send the message")

    def send(self, message: EmailMessage, *, may_send: Callable[[], bool]) -> bool:
        """Send `message` on an idle connection once `may_send()` still allows it when one is
        free; False (nothing sent) when it no longer does. A dropped connection is re-opened
        once; any error closes the connection and is raised."""
        with self._slots:
            if not may_send():
                return False
            try:
                backend = self._idle.get_nowait()
            except queue.Empty:
                backend = get_connection(fail_silently=False)
                with self._count_lock:
                    self._made.append(backend)
            try:
                try:
                    self._send(backend, message)
                except BROKEN_CONNECTION:
                    backend.close()
                    self._send(backend, message)
            except BaseException:
                with suppress(Exception):
                    backend.close()
                raise
            finally:
                self._idle.put(backend)
            return True

    def close(self) -> None:
        for backend in self._made:
            with suppress(Exception):
                backend.close()


class SendRate:
    """At most `per_second` sends a second over all senders (NOTIFY_MAX_SENDS_PER_SECOND)."""

    def __init__(self, per_second: float):
        self._interval = 1 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Wait for this send's slot; False when `stop` was set meanwhile."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return not stop.wait(slot - now) if slot > now else not stop.is_set()


# --- The recorder ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """One ExpiryNotification row a batch wrote."""

    id: int
    sent_at: datetime


def _notices_write(dialect: Dialect, sql: str, *, rows: Sequence[tuple], job_id: str) -> dict[tuple, Written]:
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(*row[:4], adapt(row[4]), row[5]) for row in rows]
    if dialect.array_parameters:
        params = [list(column) for column in zip(*rows, strict=True)] + [job_id]
    else:
        params = [value for row in rows for value in row] + [job_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (request_id, kind): Written(id, db_datetime(stamp))
            for id, request_id, kind, stamp in cursor.fetchall()
        }


def notifications_record(*, rows: Sequence[tuple], run_table: str, job_id: str) -> dict[tuple, Written]:
    """Write `rows` (request id, notification type, sent to, job id, expires on, message id)
    in one statement while run `job_id` holds its lock; {(request id, type): Written} of the
    rows written. Notices already recorded, or of requests gone, are left out. Expires on is
    a datetime, adapted here for the connection."""
    dialect = dialect_for()
    return _notices_write(
        dialect, dialect.notifications_record_sql(run_table, len(rows)), rows=rows, job_id=job_id
    )


def notifications_claim(*, rows: Sequence[tuple], run_table: str, job_id: str) -> dict[tuple, Written]:
    """Claim `rows` (as notifications_record takes them) in one statement while run `job_id`
    holds its lock; {(request id, type): Written} of the claims written (Written.id is the
    claim's Id). Notices already claimed, or of requests gone, are left out."""
    dialect = dialect_for()
    return _notices_write(
        dialect, dialect.notifications_claim_sql(run_table, len(rows)), rows=rows, job_id=job_id
    )


def claims_release(ids: Sequence[int]) -> None:
    """Delete the claims `ids` (by Id, so a claim another run made since is never touched)."""
    step = dialect_for().max_parameters - 1
    for start in range(0, len(ids), step):
        NotificationClaim.objects.filter(id__in=ids[start : start + step]).delete()


_STOP = object()


class Recorder:
    """One thread that records the outcomes handed to it (status "pending") in batches, each
    one transaction on the thread's own connection: one fenced statement writes the records,
    then `also(written)` ([(item, Written)] of the rows written) adds what goes with them in the
    same transaction (the audit trail, the webhook outbox). A batch whose transaction fails
    is retried RECORD_ATTEMPTS times with backoff, then its outcomes are "unrecorded"."""

    def __init__(
        self,
        *,
        lock: JobLock,
        row: Callable[[Any], tuple],
        key: Callable[[Any], tuple],
        also: Callable[[list[tuple[Any, Written]]], None] = lambda written: None,
    ):
        self.lock = lock
        self._row = row
        self._key = key
        self._also = also
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        rows_fit = (dialect_for().max_parameters - 1) // RECORD_COLUMNS
        self._batch_rows = min(RECORD_BATCH_ROWS, rows_fit)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{lock.job_id[:8]}", daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def put(self, outcome: Outcome) -> None:
        self._queue.put(outcome)

    def close(self) -> None:
        """Record everything handed over so far, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _batches(self) -> Iterator[list[Outcome]]:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + RECORD_BATCH_SECONDS
            while len(batch) < self._batch_rows and (left := deadline - time.monotonic()) > 0:
                try:
                    outcome = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if outcome is _STOP:
                    yield batch
                    return
                batch.append(outcome)
            yield batch

    def _run(self) -> None:
        try:
            for batch in self._batches():
                self._record(batch)
        finally:
            connection.close()  # this thread's own connection

    def _ours(self) -> bool:
        return self.lock.job.objects.filter(job_id=self.lock.job_id, status=IN_PROGRESS).exists()

    def _write(self, batch: list[Outcome]) -> tuple[dict, bool]:
        """(rows written, whether the run still held its lock), retried with backoff; raises
        the last DatabaseError when every attempt failed."""
        rows = [self._row(o.item) for o in batch]
        table = self.lock.job._meta.db_table
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with statement_timeout():  # one transaction, each statement bounded
                    written = notifications_record(rows=rows, run_table=table, job_id=self.lock.job_id)
                    ours = bool(written) or self._ours()
                    if ours:  # the batch's claims go with its records (a lost run keeps them)
                        claims_release([o.claim_id for o in batch if o.claim_id is not None])
                    if written:
                        self._also(
                            [
                                (o.item, written[self._key(o.item)])
                                for o in batch
                                if self._key(o.item) in written
                            ]
                        )
                return written, ours
            except DatabaseError:
                if attempt == RECORD_ATTEMPTS:
                    raise
                self.lock.log(
                    logging.WARNING,
                    f"Job {self.lock.job.job_name} run {self.lock.job_id}: recording {len(rows)} sent "
                    f"reminders failed (attempt {attempt} of {RECORD_ATTEMPTS}); retrying",
                    event="record_retry",
                    exc_info=True,
                )
                connection.close()  # the next attempt opens a fresh connection
                time.sleep(settings.NOTIFY_RECORD_RETRY_SECONDS * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _record(self, batch: list[Outcome]) -> None:
        try:
            written, ours = self._write(batch)
        except DatabaseError as exc:
            self._unrecorded(batch, f"sent, but could not be recorded ({type(exc).__name__}: {exc})")
            return
        if not ours:
            self.lock.mark_lost()
            self._unrecorded(batch, "sent, but not recorded: the run had lost its lock")
            return
        for outcome in batch:
            sent_at = written.get(self._key(outcome.item))  # a Written
            if sent_at is None:
                outcome.status, outcome.error = "skipped", "already recorded"
            else:
                outcome.status, outcome.sent_at = "sent", sent_at.sent_at

    def _unrecorded(self, batch: list[Outcome], error: str) -> None:
        for outcome in batch:
            outcome.status, outcome.error = "unrecorded", error
        self.lock.log(
            logging.ERROR,
            f"Job {self.lock.job.job_name} run {self.lock.job_id}: {len(batch)} reminders were SENT BUT NOT "
            f"RECORDED; their claims keep them from being sent again ({error}): "
            + ", ".join(str(self._key(o.item)) for o in batch),
            event="record_failed",
            unrecorded=[list(self._key(o.item)) for o in batch],
        )


# --- The interpreter ------------------------------------------------------------------------

_switch_guard = threading.Lock()
_switch_users = 0
_switch_before = 0.0


@contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Run the block with the interpreter's thread switch interval at `seconds` (nothing when
    0). Runs that overlap in one process share it; the last one out restores the interval
    there was before the first."""
    global _switch_users, _switch_before
    if not seconds:
        yield
        return
    with _switch_guard:
        if _switch_users == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(seconds)
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_guard:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_before)


# --- Kept pools ---------------------------------------------------------------------------


class _KeptPools:
    """Thread pools a run gave back, by size, each until NOTIFY_POOL_KEEP_SECONDS pass
    without a run taking it again."""

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: dict[int, tuple[ThreadPoolExecutor, threading.Timer]] = {}

    def take(self, workers: int) -> tuple[ThreadPoolExecutor, bool]:
        """(pool, whether its threads are started already)."""
        with self._lock:
            kept = self._idle.pop(workers, None)
        if kept is None:
            return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify"), False
        kept[1].cancel()
        return kept[0], True

    def give_back(self, pool: ThreadPoolExecutor, workers: int, *, keep: float) -> None:
        if not keep:
            pool.shutdown(wait=True)
            return
        timer = threading.Timer(keep, self._expire, args=(workers, pool))
        timer.daemon = True
        with self._lock:
            replaced = self._idle.pop(workers, None)
            self._idle[workers] = (pool, timer)
        timer.start()
        if replaced is not None:  # two runs of one size overlapped: keep one pool
            replaced[1].cancel()
            replaced[0].shutdown(wait=False)

    def close(self) -> None:
        """Shut every kept pool down now."""
        with self._lock:
            kept, self._idle = list(self._idle.values()), {}
        for pool, timer in kept:
            timer.cancel()
            pool.shutdown(wait=True)

    def _expire(self, workers: int, pool: ThreadPoolExecutor) -> None:
        with self._lock:
            if self._idle.get(workers, (None,))[0] is not pool:
                return  # taken again meanwhile
            del self._idle[workers]
        pool.shutdown(wait=False)  # its idle threads end


_KEPT = _KeptPools()
kept_pools_close = _KEPT.close


@contextmanager
def kept_pool(workers: int) -> Iterator[tuple[ThreadPoolExecutor, bool]]:
    """(pool of `workers` threads, whether they are started): the pool an earlier run of this
    process gave back, or a new one. When the block ends normally (it must have waited for
    every task it submitted) the pool is kept for NOTIFY_POOL_KEEP_SECONDS, so the next run
    starts no threads; when it raises, or keeping is off, the pool is shut down, joining
    its threads."""
    pool, started = _KEPT.take(workers)
    try:
        yield pool, started
    except BaseException:
        pool.shutdown(wait=True)
        raise
    _KEPT.give_back(pool, workers, keep=settings.NOTIFY_POOL_KEEP_SECONDS)


# --- The run --------------------------------------------------------------------------------


def _warm(pool: ThreadPoolExecutor, workers: int, *, build: Callable[[], Any]) -> None:
    """Start all `workers` threads of `pool` now, before the timed sends, and call `build()`
    once on this thread: the process's lazy set-up (URL resolver, template engines, tag
    libraries) is done here, not by a thousand threads at once behind the import lock."""
    with suppress(Exception):  # a build that fails fails again, and is reported, in its send
        build()
    ready = threading.Barrier(workers + 1)
    try:  # an interrupt while starting them frees the threads already waiting
        for _ in range(workers):
            pool.submit(ready.wait, WARM_TIMEOUT_SECONDS)
        ready.wait(WARM_TIMEOUT_SECONDS)
    except BaseException:
        ready.abort()
        raise


@dataclass(frozen=True)
class Sender:
    """What one send needs, shared by the pool threads."""

    lock: JobLock
    stop: threading.Event
    connections: EmailConnections
    rate: SendRate | None
    recorder: Recorder
    build: Callable[[Any], PreparedEmail]
    should_fail: Callable[[Any], str]
    delay: float

    def send(self, item: Any, claim_id: int) -> Outcome:
        """One task, on a pool thread, for a claimed item: build and prepare its email, wait
        (the simulated latency), send, hand to the recorder. Never raises: an error is a
        failed outcome."""
        try:
            message = self.build(item).prepare()  # its MIME message made before the wait
            if self.stop.wait(self.delay) or (self.rate and not self.rate.wait(self.stop)):
                return Outcome(item, "cancelled", claim_id=claim_id)
            reason = self.should_fail(item)
            if reason:
                raise SimulatedFailure(reason)
            # No send starts once the lease has run out or the lock is lost.
            if not self.connections.send(message, may_send=self.lock.lease_held):
                return Outcome(item, "cancelled", claim_id=claim_id)
        except Exception as exc:
            logger.warning(
                "notification failed request=%s email=%s error=%s",
                getattr(item, "request_id", item),
                getattr(item, "email", ""),
                exc,
            )
            return Outcome(item, "failed", str(exc) or type(exc).__name__, claim_id=claim_id)
        finally:
            connection.close()  # senders use none; an email backend that opened one must not keep it
        outcome = Outcome(item, "pending", claim_id=claim_id)
        self.recorder.put(outcome)
        return outcome


class Claims:
    """The run's claims, made on the calling thread's connection: claim() before items are
    handed to the senders, release() of those that were never sent once they are done."""

    def __init__(self, *, lock: JobLock, row: Callable[[Any], tuple], key: Callable[[Any], tuple]):
        self.lock = lock
        self._row = row
        self._key = key
        self.batch_rows = min(RECORD_BATCH_ROWS, (dialect_for().max_parameters - 1) // RECORD_COLUMNS)

    def claim(self, items: Sequence[Any]) -> tuple[list[tuple[Any, int]], list[Outcome]]:
        """Claim `items` (at most batch_rows) in one fenced statement: ([(item, claim id)] to
        send, [skipped outcomes] of those an earlier run claimed). Marks the lock lost and
        claims nothing when the run's row is no longer ours or its lease ran out. A database
        error is retried on a fresh connection while the lease holds, then raised."""
        rows = [self._row(item) for item in items]
        table = self.lock.job._meta.db_table
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with statement_timeout():
                    claimed = notifications_claim(rows=rows, run_table=table, job_id=self.lock.job_id)
                    if (
                        not claimed
                        and not self.lock.job.objects.filter(
                            job_id=self.lock.job_id, status=IN_PROGRESS
                        ).exists()
                    ):
                        self.lock.mark_lost()
                        return [], []
                break
            except DatabaseError:
                if not self.lock.lease_held():  # its lease ran out meanwhile: the run stops itself
                    connection.close()
                    return [], []
                if attempt == RECORD_ATTEMPTS:
                    raise
                connection.close()
                time.sleep(settings.NOTIFY_RECORD_RETRY_SECONDS * 2 ** (attempt - 1))
        to_send, skipped = [], []
        for item in items:
            written = claimed.get(self._key(item))
            if written is None:
                skipped.append(Outcome(item, "skipped", "claimed by an earlier run (in doubt)"))
            else:
                to_send.append((item, written.id))
        return to_send, skipped

    def release(self, ids: list[int]) -> None:
        """Delete the claims of notices that were never sent, so the next run sends them.
        Not fenced: a notice not sent may be made due again by anyone. Retried like a record;
        if it never lands the notices stay in doubt, and that is logged."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with statement_timeout():
                    claims_release(ids)
                return
            except DatabaseError:
                connection.close()
                if attempt < RECORD_ATTEMPTS:
                    time.sleep(settings.NOTIFY_RECORD_RETRY_SECONDS * 2 ** (attempt - 1))
        self.lock.log(
            logging.ERROR,
            f"Job {self.lock.job.job_name} run {self.lock.job_id}: the claims of {len(ids)} notices that were "
            "NOT SENT could not be released; they stay in doubt and are not sent until released "
            "(docs/notifications.md)",
            event="claims_release_failed",
            claims=ids,
        )


@dataclass(frozen=True)
class SendReport:
    outcomes: list[Outcome]  # of the items sent or tried, then those skipped (never-run ones left out)
    workers: int
    parallel_seconds: float  # the sends, from the first submitted to the last recorded
    connections_opened: int


def send_all(
    lock: JobLock,
    items: Sequence[Any],
    *,
    build: Callable[[Any], PreparedEmail],
    row: Callable[[Any], tuple],
    key: Callable[[Any], tuple],
    also: Callable[[list[tuple[Any, Written]]], None] = lambda written: None,
    should_fail: Callable[[Any], str] = lambda item: "",
) -> SendReport:
    """Send `build(item)` (prepared on the sending thread before its wait) for each item on at
    most NOTIFY_MAX_WORKERS threads and record each sent one (`row(item)`, recognised again by
    `key(item)`; `also(written)` in the same transaction, see Recorder). Each item is claimed
    first, from this thread, as threads come free (at most a quarter of the workers ahead); an
    item an earlier run claimed is skipped. Reports progress from this thread once a second;
    stops (drops queued sends) when the lock is lost or its lease runs out. The run's counts
    are kept in `lock.counts`, also when it is interrupted.

    Raises LockLost when the lock was lost; then the outcomes are in `lock.counts` only;
    DatabaseError when a claim could not be written."""
    total = len(items)
    workers = min(settings.NOTIFY_MAX_WORKERS, total)
    sender = Sender(
        lock=lock,
        stop=threading.Event(),
        connections=EmailConnections(min(settings.NOTIFY_SMTP_CONNECTIONS or workers, workers)),
        rate=SendRate(settings.NOTIFY_MAX_SENDS_PER_SECOND) if settings.NOTIFY_MAX_SENDS_PER_SECOND else None,
        recorder=Recorder(lock=lock, row=row, key=key, also=also).start(),
        build=build,
        should_fail=should_fail,
        delay=settings.NOTIFY_SEND_DELAY_SECONDS,
    )
    claims = Claims(lock=lock, row=row, key=key)
    ahead = max(1, workers // 4)  # claimed items waiting for a thread, at most
    todo = deque(items)
    futures, skipped, claim_of = [], [], {}
    finished: queue.SimpleQueue = queue.SimpleQueue()  # each future, once done (O(1) a send)
    started = time.monotonic()
    try:
        with switch_interval(settings.NOTIFY_SWITCH_INTERVAL_SECONDS), kept_pool(workers) as (pool, warm):
            try:
                if not warm:
                    _warm(pool, workers, build=lambda: build(items[0]).prepare())
                started = time.monotonic()
                next_progress = started + PROGRESS_EVERY_SECONDS
                running = 0

                def claimable() -> bool:  # room for at least `ahead` more (every thread is busy or free)
                    return bool(todo) and running <= workers and not lock.lost.is_set()

                while True:
                    if claimable():
                        free = workers + ahead - running
                        batch = [todo.popleft() for _ in range(min(free, claims.batch_rows, len(todo)))]
                        to_send, passed = claims.claim(batch)
                        skipped += passed
                        for item, claim_id in to_send:
                            futures.append(future := pool.submit(sender.send, item, claim_id))
                            claim_of[future] = claim_id
                            future.add_done_callback(finished.put)
                            running += 1
                    if not running and (not todo or lock.lost.is_set()):
                        break
                    if running:  # without waiting while there are threads to claim for
                        timeout = 0.0 if claimable() else max(0.0, next_progress - time.monotonic())
                        running -= _finished(finished, timeout=timeout)
                    if not lock.lease_held():
                        break
                    if running and time.monotonic() >= next_progress:
                        next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
                        if not lock.progress(processed=total - len(todo) - running, total=total):
                            break
            finally:
                # Lock lost or interrupted (SIGTERM, Ctrl-C), also while submitting: drop queued
                # sends, wake the waiting ones; sends already going finish, and are waited for.
                if any(not f.done() for f in futures):
                    sender.stop.set()
                    for future in futures:
                        future.cancel()
            wait(futures)  # the sends still going; then the pool may serve the next run
    finally:
        sender.connections.close()
        sender.recorder.close()  # records every send handed over, also after an interrupt
        outcomes = [f.result() for f in futures if f.done() and not f.cancelled()]
        unsent = [o.claim_id for o in outcomes if o.status in ("failed", "cancelled")]
        unsent += [claim_of[f] for f in futures if f.cancelled()]
        if unsent:
            claims.release(unsent)
        outcomes += skipped
        _count(lock, outcomes, total)
    if lock.lost.is_set():
        raise LockLost(lock.lost_error)
    return SendReport(
        outcomes=outcomes,
        workers=workers,
        parallel_seconds=time.monotonic() - started,
        connections_opened=sender.connections.opened,
    )


def _finished(finished: queue.SimpleQueue, *, timeout: float) -> int:
    """How many futures finished: wait up to `timeout` for one, then take all the others
    that are there."""
    try:
        finished.get(timeout=timeout)
    except queue.Empty:
        return 0
    count = 1
    with suppress(queue.Empty):
        while True:
            finished.get_nowait()
            count += 1
    return count


def _count(lock: JobLock, outcomes: list[Outcome], total: int) -> None:
    """The run's counts, which the runner releases it with: a send that went out counts as a
    success whether or not its record could be written."""
    lock.counts.update(
        success_count=sum(o.status in ("sent", "unrecorded") for o in outcomes),
        failed_count=sum(o.status == "failed" for o in outcomes),
        processed_count=len(outcomes),
        total_count=total,
    )
