"""The one way a job runs: take its lock, heartbeat while its work runs, release the run
Completed with its counts or Failed with one error text.

A job is a work function `work(lock) -> result`: it fences its writes with `lock.fence()`
and keeps its counts so far in `lock.counts`. Callers catch LockHeld and JobFailed only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from jobs.lock import COMPLETED, FAILED, JobLock, LockLost, lock_acquire
from jobs.models import JobRun
from jobs.signals import interrupts_deferred

Result = TypeVar("Result")


class JobFailed(Exception):
    """The run started and did not complete; its row is Failed with `error`. `counts` are
    what it did before it failed (committed work)."""

    def __init__(self, *, job: type[JobRun], job_id: str, error: str, counts: dict):
        self.job = job
        self.job_id = job_id
        self.error = error
        self.counts = counts
        super().__init__(f"The {job.job_noun} job failed: {error}")


def error_text(exc: BaseException) -> str:
    """The one text a failed run records and shows for `exc`."""
    if isinstance(exc, KeyboardInterrupt):
        return str(exc) or "Interrupted (Ctrl-C)"
    if isinstance(exc, LockLost):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def job_run(
    *,
    job: type[JobRun],
    triggered_by: str,
    work: Callable[[JobLock], Result],
    record_refusal: bool = True,
) -> Result:
    """Run `work` under `job`'s lock and return what it returns.

    Raises LockHeld (nothing ran) or JobFailed (every failure, a lost lock included).
    KeyboardInterrupt (Ctrl-C, or SIGTERM via jobs.signals) releases the run Failed and
    propagates; interrupts that arrive while the lock is taken wait until it can be."""
    lock = None
    try:
        with interrupts_deferred():
            lock = lock_acquire(job=job, triggered_by=triggered_by, record_refusal=record_refusal)
        with lock:
            result = work(lock)
    except BaseException as exc:
        if lock is None:
            raise  # LockHeld, or an error before the lock was taken: no run to release
        error = error_text(exc)
        lock.release(status=FAILED, error=error, **lock.counts)
        if isinstance(exc, Exception):
            raise JobFailed(job=job, job_id=lock.job_id, error=error, counts=dict(lock.counts)) from exc
        raise
    if not lock.release(status=COMPLETED, **lock.counts):
        error = (
            lock.lost_error
            if lock.lost.is_set()
            else f"Run {lock.job_id} could not record its end (database error); it will show as abandoned."
        )
        raise JobFailed(job=job, job_id=lock.job_id, error=error, counts=dict(lock.counts))
    return result
