"""The job lock under real concurrency: separate OS processes, each with its own Django
set-up and database connection, on the test database (SQLite file, or PostgreSQL with
DATABASE_URL). Helpers: tests/lock_worker.py. Nothing here mocks the database."""

import json
import multiprocessing
import os
import queue
import signal
import subprocess
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from jobs.lock import LockHeld, lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.status import live_run
from tests import lock_worker
from tests.conftest import PYTHON, ROOT

RACE_WORKERS = 16
RACE_ROUNDS = 50
FUZZ_WORKERS = 6
FUZZ_INCREMENTS = 25
HEARTBEAT, STALE = 0.2, 1.0  # short lease for the crash / takeover tests


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


def _collect(queue, expected: int, procs, timeout: float = 120) -> list:
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


@pytest.fixture
def short_lease(settings, child_env):
    """Heartbeat 0.2 s, stale after 1 s — here and in the child processes."""
    settings.JOB_HEARTBEAT_SECONDS = HEARTBEAT
    settings.JOB_STALE_AFTER_SECONDS = STALE
    return {
        **child_env,
        "JOB_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "JOB_STALE_AFTER_SECONDS": str(STALE),
        # Within the lease margin (a quarter of the stale limit), as start-up demands.
        "EMAIL_TIMEOUT": str(STALE / 5),
        "JOB_STATEMENT_TIMEOUT_SECONDS": str(STALE / 5),
    }


class Child:
    """A tests/lock_worker.py command-line process that reports JSON lines. Its pipes are
    drained by threads, so a report is never stuck in a buffer and the child never blocks
    on a full pipe."""

    def __init__(self, env: dict, *args: str):
        self.proc = subprocess.Popen(
            [PYTHON, str(ROOT / "tests" / "lock_worker.py"), *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        for stream, put in ((self.proc.stdout, self.lines.put), (self.proc.stderr, self.errors.append)):
            threading.Thread(target=self._pump, args=(stream, put), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line)

    @property
    def stderr(self) -> str:
        return "".join(self.errors)

    def read(self, timeout: float = 60) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack
                time.sleep(1)
                self.proc.kill()
            raise AssertionError(f"no report from the child; stderr:\n{self.stderr}") from None

    def send(self, text: str = "go\n") -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> int:
        """Wait for the exit; the exit code."""
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()


def _acquire_when_stale(job, *, timeout: float = 15):
    """Try every 50 ms until the lock is ours; returns (lock, refusals before that)."""
    refusals, deadline = 0, time.monotonic() + timeout
    while True:
        try:
            return lock_acquire(job=job, triggered_by="taker"), refusals
        except LockHeld:
            refusals += 1
            assert time.monotonic() < deadline, "the stale lock was never taken over"
            time.sleep(0.05)


def _race(child_env, *, rounds: int, stale_holder: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(RACE_WORKERS), ctx.Queue()
    procs = [
        ctx.Process(
            target=lock_worker.race_worker,
            args=(child_env, "revoke", rounds, barrier, queue, worker_no, stale_holder),
        )
        for worker_no in range(RACE_WORKERS)
    ]
    for p in procs:
        p.start()
    results = _collect(queue, RACE_WORKERS * (rounds + 1) + (rounds if stale_holder else 0), procs)

    rounds_seen = defaultdict(list)
    planted = {}
    for kind, round_no, pid, detail, started_by in results:
        if kind == "planted":
            planted[round_no] = detail
        elif kind != "done":
            rounds_seen[round_no].append((kind, pid, detail, started_by))
    assert sorted(rounds_seen) == list(range(rounds))
    winners_by_round = {}
    for round_no, attempts in rounds_seen.items():
        assert len(attempts) == RACE_WORKERS
        winners = [a for a in attempts if a[0] == "won"]
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        _, winner_pid, winner_job_id, winner_server = winners[0]
        assert winner_server.endswith(f":{winner_pid}")
        for kind, _pid, active_job, _ in attempts:
            if kind == "lost":
                assert active_job["jobId"] == winner_job_id
                assert active_job["startedBy"] == winner_server
                assert active_job["triggeredBy"] == f"race-{winner_pid}"
        winners_by_round[round_no] = winner_job_id
    return {"winners": winners_by_round, "planted": planted}


def test_exactly_one_of_16_processes_wins_every_round(child_env):
    _race(child_env, rounds=RACE_ROUNDS, stale_holder=False)
    assert RevokeExpiredJobRun.objects.filter(status="Completed").count() == RACE_ROUNDS
    # every loser's attempt is recorded once as Refused, and nothing else was left behind
    assert RevokeExpiredJobRun.objects.filter(status="Refused").count() == RACE_ROUNDS * (RACE_WORKERS - 1)
    assert not RevokeExpiredJobRun.objects.exclude(status__in=["Completed", "Refused"]).exists()
    assert not NotificationJobRun.objects.exists()


def test_exactly_one_of_16_processes_takes_over_a_stale_run_every_round(child_env):
    rounds = 20
    seen = _race(child_env, rounds=rounds, stale_holder=True)
    for round_no, winner_job_id in seen["winners"].items():
        crashed = RevokeExpiredJobRun.objects.get(job_id=seen["planted"][round_no])
        assert crashed.status == "Abandoned"
        assert f"taken over by run {winner_job_id} " in crashed.error_message
    assert RevokeExpiredJobRun.objects.filter(status="Completed").count() == rounds
    assert RevokeExpiredJobRun.objects.filter(status="Abandoned").count() == rounds
    assert not RevokeExpiredJobRun.objects.filter(status="InProgress").exists()


def test_counter_incremented_under_the_lock_by_competing_processes_is_exact(child_env, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(FUZZ_WORKERS), ctx.Queue()
    procs = [
        ctx.Process(
            target=lock_worker.fuzz_worker,
            args=(child_env, "notifications", FUZZ_INCREMENTS, str(counter), barrier, queue),
        )
        for _ in range(FUZZ_WORKERS)
    ]
    for p in procs:
        p.start()
    results = _collect(queue, FUZZ_WORKERS, procs)

    assert int(counter.read_text()) == FUZZ_WORKERS * FUZZ_INCREMENTS
    assert sum(refusals for _, _, refusals in results) > 0, "the workers never competed"
    assert NotificationJobRun.objects.filter(status="Completed").count() == FUZZ_WORKERS * FUZZ_INCREMENTS


def test_killed_run_keeps_the_lock_until_stale_then_is_taken_over_and_abandoned(short_lease, settings):
    # Stale after 3 s here: room for a loaded machine between the kill and the first retry.
    settings.JOB_STALE_AFTER_SECONDS = 3 * STALE
    env = {**short_lease, "JOB_STALE_AFTER_SECONDS": str(3 * STALE)}
    child = Child(env, "hold", "revoke", "--seconds", "60", "--step", "60")
    started = child.read()
    run = RevokeExpiredJobRun.objects.get(job_id=started["jobId"])
    while RevokeExpiredJobRun.objects.get(pk=run.pk).heartbeat_at == run.started_at:
        time.sleep(0.05)  # beating: killed in the middle of a healthy run
    child.proc.send_signal(signal.SIGKILL)
    child.finish()

    with pytest.raises(LockHeld) as held:  # no heartbeat yet for 1 s: still held
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="taker")
    assert held.value.holder.job_id == started["jobId"]

    lock, refusals = _acquire_when_stale(RevokeExpiredJobRun)
    assert refusals >= 1
    old = RevokeExpiredJobRun.objects.get(job_id=started["jobId"])
    assert old.status == "Abandoned"
    assert "no heartbeat for 3 s" in old.error_message
    assert lock.job_id in old.error_message
    # Taken over only once stale, measured on the database's clock.
    assert old.completed_at - old.heartbeat_at >= timedelta(seconds=3 * STALE)
    assert lock.release(status="Completed", revoked_count=0)
    assert RevokeExpiredJobRun.objects.get(job_id=lock.job_id).status == "Completed"


def test_long_run_that_keeps_beating_is_never_taken_over(short_lease):
    # One 3 s wait (the seed's artificial delay): only the heartbeat thread keeps it alive.
    child = Child(short_lease, "hold", "notifications", "--seconds", "3", "--step", "3")
    started = child.read()
    attempts = 0
    while child.proc.poll() is None:
        try:
            lock = lock_acquire(job=NotificationJobRun, triggered_by="taker")
        except LockHeld as held:
            attempts += 1
            assert held.holder.job_id == started["jobId"]
            time.sleep(0.1)
            continue
        # The child may have just released; anything else is a takeover.
        assert NotificationJobRun.objects.get(job_id=started["jobId"]).status == "Completed"
        lock.release(status="Completed")
        break
    assert child.read() == {"event": "finished", "jobId": started["jobId"], "released": True}
    assert child.finish() == 0
    assert attempts > 10  # it was challenged many times over three stale periods
    run = NotificationJobRun.objects.get(job_id=started["jobId"])
    assert run.status == "Completed"
    assert run.processed_count == 1
    assert run.completed_at - run.started_at >= timedelta(seconds=3 * STALE)
    assert not NotificationJobRun.objects.filter(status="Abandoned").exists()


def test_run_taken_over_while_stalled_stops_itself_and_leaves_the_new_row_alone(short_lease):
    child = Child(short_lease, "pause", "revoke")
    started = child.read()
    assert child.read() == {"event": "paused"}
    lock, _ = _acquire_when_stale(RevokeExpiredJobRun)
    with lock:  # the new owner beats too, however slowly the stalled run wakes up
        assert lock.progress(processed=5, total=10)
        child.send()
        report = child.read()
        assert child.finish() == 0
        assert report == {
            "event": "resumed",
            "jobId": started["jobId"],
            "stillHeldAfterWait": False,  # its heartbeat noticed at once, the wait ended early
            "fenceRaised": "LockLost",
            "released": False,
        }
        old = RevokeExpiredJobRun.objects.get(job_id=started["jobId"])
        # Its own row says it failed and why (the taker's "Abandoned" text kept); the fenced write
        # never happened.
        assert old.status == "Failed" and "taken over by run" in old.error_message
        assert old.processed_count is None
        mine = RevokeExpiredJobRun.objects.get(job_id=lock.job_id)
        assert (mine.status, mine.processed_count, mine.total_count) == ("InProgress", 5, 10)
        assert live_run(job=RevokeExpiredJobRun).job_id == lock.job_id
    assert lock.release(status="Completed", revoked_count=0)


def test_sigterm_releases_the_lock_as_failed(child_env):
    child = Child(child_env, "hold", "revoke", "--seconds", "60", "--step", "60", "--runner")
    started = child.read()
    assert live_run(job=RevokeExpiredJobRun) is not None
    child.proc.send_signal(signal.SIGTERM)
    assert child.finish() == 130, child.stderr
    run = RevokeExpiredJobRun.objects.get(job_id=started["jobId"])
    assert run.status == "Failed"
    assert run.error_message == "Interrupted (SIGTERM)"
    assert run.completed_at is not None
    assert live_run(job=RevokeExpiredJobRun) is None


def test_running_job_in_another_process_does_not_block_the_other_job(child_env):
    child = Child(child_env, "hold", "notifications", "--seconds", "60", "--step", "60")
    started = child.read()
    try:
        assert live_run(job=NotificationJobRun).job_id == started["jobId"]
        assert live_run(job=RevokeExpiredJobRun) is None
        lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
        assert lock.release(status="Completed", revoked_count=0)
        with pytest.raises(LockHeld):
            lock_acquire(job=NotificationJobRun, triggered_by="alice")
    finally:
        os.kill(child.proc.pid, signal.SIGTERM)
        child.finish()
