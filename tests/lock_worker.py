"""Helper processes for the job-lock tests: each is a separate OS process with its own
Django set-up and database connection, on the test database named by the `child_env`
fixture's environment.

- race_worker / fuzz_worker: multiprocessing targets (spawn context), synchronised by a
  multiprocessing.Barrier; they report through a multiprocessing.Queue.
- Command line, ``python tests/lock_worker.py hold <job> --seconds S --step T [--runner]``:
  a command-like run that takes the lock, prints one JSON line {"event": "acquired", ...},
  works in fenced steps under sigterm_as_interrupt() (with the lock primitives, or through
  the job runner), releases, and prints one JSON line
  saying how it ended. ``pause <job>``: a run that stalls until told to go on (stdin).

Module level imports only the standard library: a spawned child imports this module
before it has set its environment and called django.setup().
"""

import faulthandler
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

BARRIER_TIMEOUT = 60


def _setup(env: dict | None = None) -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck test shows where
    if env:
        os.environ.update(env)
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import django

    django.setup()


def race_worker(
    env: dict, job_key: str, rounds: int, barrier, results, worker_no: int = 0, stale_holder: bool = False
) -> None:
    """Each round: all workers acquire at the same moment; each reports whether it won
    and, when refused, the holder it was told about; the winner releases only after
    everyone has reported. With stale_holder, worker 0 first plants an InProgress row
    that stopped beating an hour ago, so every round is a race of 16 takers."""
    try:
        _setup(env)
        from datetime import timedelta

        from django.db import connection

        from accessmgr.db import db_now
        from jobs.api import active_job_json
        from jobs.lock import LockHeld, lock_acquire
        from jobs.models import JOB_MODELS

        job = JOB_MODELS[job_key]
        for round_no in range(rounds):
            if stale_holder and worker_no == 0:
                crashed = lock_acquire(job=job, triggered_by="crashed")
                job.objects.filter(job_id=crashed.job_id).update(heartbeat_at=db_now() - timedelta(hours=1))
                results.put(("planted", round_no, os.getpid(), crashed.job_id, None))
            barrier.wait(BARRIER_TIMEOUT)
            lock = None
            try:
                lock = lock_acquire(job=job, triggered_by=f"race-{os.getpid()}")
                results.put(("won", round_no, os.getpid(), lock.job_id, lock.started_by))
            except LockHeld as held:
                results.put(("lost", round_no, os.getpid(), active_job_json(held.holder), None))
            barrier.wait(BARRIER_TIMEOUT)  # everybody has tried and reported
            if lock is not None:
                lock.release(status="Completed", total_count=round_no)
            if stale_holder:
                barrier.wait(BARRIER_TIMEOUT)  # released before worker 0 plants the next one
        connection.close()
        results.put(("done", None, os.getpid(), None, None))
    except BaseException:
        barrier.abort()
        results.put(("error", None, os.getpid(), traceback.format_exc(), None))


def fuzz_worker(env: dict, job_key: str, increments: int, counter_path: str, barrier, results) -> None:
    """ShedLock-style: under the lock, read a counter file, sleep 1 ms, write it back + 1.
    Without mutual exclusion, increments get lost."""
    try:
        _setup(env)
        from django.db import connection

        from jobs.lock import LockHeld, lock_acquire
        from jobs.models import JOB_MODELS

        job = JOB_MODELS[job_key]
        counter = Path(counter_path)
        refusals = 0
        barrier.wait(BARRIER_TIMEOUT)
        done = 0
        while done < increments:
            try:
                lock = lock_acquire(job=job, triggered_by="fuzz")
            except LockHeld:
                refusals += 1
                time.sleep(0.0005)
                continue
            try:
                value = int(counter.read_text())
                time.sleep(0.001)
                counter.write_text(str(value + 1))
            finally:
                lock.release(status="Completed", processed_count=1)
            done += 1
        connection.close()
        results.put(("done", os.getpid(), refusals))
    except BaseException:
        barrier.abort()
        results.put(("error", os.getpid(), traceback.format_exc()))


def revoke_race_worker(env: dict, role: str, request_ids: list[str], rounds: int, barrier, results) -> None:
    """The access lifecycle's race: each round, after the barrier, role "hand" revokes
    `request_ids[round]` one by one with access_request_revoke while role "job" runs the
    revoke job over the same (expired) requests. Reports what each side did."""
    try:
        _setup({**env, "REVOKE_DELAY_SECONDS": "0", "REVOKE_CHUNK_SIZE": "1"})
        from django.db import connection

        from jobs.revoke import revoke_expired_run
        from requests_app.services import AccessRequestNotActive, access_request_revoke

        for round_no in range(rounds):
            barrier.wait(BARRIER_TIMEOUT)
            if role == "job":
                done = revoke_expired_run(triggered_by="race").revoked_count
            else:
                done = 0
                for request_id in request_ids[round_no]:
                    try:
                        access_request_revoke(request_id=request_id, reason="race", revoked_by="hand")
                        done += 1
                    except AccessRequestNotActive:
                        pass
            results.put((role, round_no, done, None))
        connection.close()
        results.put(("done", None, os.getpid(), None))
    except BaseException:
        barrier.abort()
        results.put(("error", None, os.getpid(), traceback.format_exc(), None))


def _say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def hold(job_key: str, seconds: float, *, step: float, use_runner: bool) -> int:
    """A command-like run, in the pattern the job functions and commands use: work in
    fenced steps of `step` seconds (lock.wait, then a transaction that fences and records
    progress) for `seconds`, under sigterm_as_interrupt()."""
    _setup()
    from django.db import transaction

    from jobs.api import active_job_json
    from jobs.lock import LockHeld, LockLost, lock_acquire
    from jobs.models import JOB_MODELS
    from jobs.runner import job_run
    from jobs.signals import sigterm_as_interrupt

    job = JOB_MODELS[job_key]
    steps = max(1, round(seconds / step))

    def work(lock) -> None:
        for done in range(1, steps + 1):
            lock.wait(step)
            with transaction.atomic():
                lock.fence()
                lock.progress(processed=done, total=steps)

    with sigterm_as_interrupt():
        try:
            if use_runner:

                def run(lock):
                    _say(event="acquired", jobId=lock.job_id, pid=os.getpid())
                    work(lock)
                    lock.counts["processed_count"] = steps
                    return lock

                lock = job_run(job=job, triggered_by="lock_worker", work=run)
                _say(event="finished", jobId=lock.job_id, released=lock.released)
                return 0
            lock = lock_acquire(job=job, triggered_by="lock_worker")
            _say(event="acquired", jobId=lock.job_id, pid=os.getpid())
            try:
                with lock:
                    work(lock)
                released = lock.release(status="Completed", processed_count=steps)
            except BaseException as exc:
                released = lock.release(status="Failed", error=str(exc) or type(exc).__name__)
                _say(event="failed", jobId=lock.job_id, error=type(exc).__name__, released=released)
                raise
            _say(event="finished", jobId=lock.job_id, released=released)
            return 0
        except LockHeld as held:
            _say(event="refused", activeJob=active_job_json(held.holder))
            return 3
        except LockLost:
            return 4
        except KeyboardInterrupt:
            return 130


def pause(job_key: str) -> int:
    """A run that stalls (a frozen VM, a long GC pause): it takes the lock, stops beating,
    says "paused", and waits for a line on stdin. Meanwhile the lock goes stale and another
    run takes it over. Then it resumes beating and tries to write: it must notice the
    loss (wait returns early, fence raises LockLost) and its release must not touch the
    new owner's row."""
    _setup()
    from django.db import transaction

    from jobs.lock import LockLost, lock_acquire
    from jobs.models import JOB_MODELS

    lock = lock_acquire(job=JOB_MODELS[job_key], triggered_by="lock_worker")
    _say(event="acquired", jobId=lock.job_id, pid=os.getpid())
    report = {"jobId": lock.job_id}
    try:
        with lock:
            lock.stop_heartbeat()
            _say(event="paused")
            sys.stdin.readline()
            lock.start_heartbeat()
            report["stillHeldAfterWait"] = lock.wait(10)
            with transaction.atomic():
                lock.fence()
                lock.progress(processed=1, total=1)
        report["released"] = lock.release(status="Completed", processed_count=1)
    except LockLost as exc:
        report["fenceRaised"] = type(exc).__name__
        report["released"] = lock.release(status="Failed", error=str(exc))
    _say(event="resumed", **report)
    return 0


# --- the parent's side ---------------------------------------------------------------


def _fail_with_first_error(queue, item, procs) -> None:
    """One worker failed and broke the barrier for the others: show the real failure."""
    errors = [item[-2]]
    time.sleep(1)
    while not queue.empty():
        other = queue.get()
        if other[0] == "error":
            errors.append(other[-2])
    for p in procs:
        p.join(10)
    real = [e for e in errors if "BrokenBarrierError" not in e] or errors
    raise AssertionError(f"{len(errors)} worker(s) failed; first real error:\n{real[0]}")


def results_collect(queue, expected: int, procs, timeout: float = 120) -> list:
    """Read `expected` results (draining the queue before join, or children block)."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < expected:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"workers did not report in time: {len(got)}/{expected}"
        try:
            item = queue.get(timeout=min(remaining, 1))
        except Exception:
            assert all(p.is_alive() or p.exitcode == 0 for p in procs), "a worker died"
            continue
        if item[0] == "error":
            _fail_with_first_error(queue, item, procs)
        got.append(item)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return got


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["hold", "pause"])
    parser.add_argument("job", choices=["revoke", "notifications"])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--runner", action="store_true")
    args = parser.parse_args()
    if args.mode == "pause":
        sys.exit(pause(args.job))
    sys.exit(hold(args.job, args.seconds, step=args.step, use_runner=args.runner))
