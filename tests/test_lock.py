"""The job lock in one process: acquire / refuse / takeover / fence / release / status, the
start-up check of the lease settings. Multi-process races and crashes: test_lock_concurrency.py."""

import logging
import os
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from accessmgr.db import db_now
from jobs.lock import LockHeld, LockLost, lock_acquire, server_identity
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.status import live_run
from tests.conftest import django_start
from tests.factories import lock_stop_beating

pytestmark = pytest.mark.django_db(transaction=True)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def lock_log():
    """Records of the "jobs.lock" logger, by event."""
    handler, logger = _Records(), logging.getLogger("jobs.lock")
    logger.addHandler(handler)
    try:
        yield lambda event: [r for r in handler.records if getattr(r, "event", None) == event]
    finally:
        logger.removeHandler(handler)


def test_acquire_writes_an_in_progress_row_on_the_database_clock():
    before = db_now()
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    run = RevokeExpiredJobRun.objects.get(job_id=lock.job_id)
    assert run.status == "InProgress"
    assert (run.started_by, run.triggered_by) == (server_identity(), "alice")
    assert run.started_by.endswith(f":{os.getpid()}")
    assert before <= run.started_at <= db_now()
    assert run.heartbeat_at == run.started_at
    assert run.completed_at is None
    lock.release(status="Completed", revoked_count=0)


def test_refused_acquire_reports_the_holder_and_records_a_refused_row():
    first = lock_acquire(job=NotificationJobRun, triggered_by="alice", started_by="web-1:42")
    with pytest.raises(LockHeld) as refused:
        lock_acquire(job=NotificationJobRun, triggered_by="bob", started_by="web-2:7")
    holder = refused.value.holder
    assert (holder.job_id, holder.started_by, holder.triggered_by) == (first.job_id, "web-1:42", "alice")
    assert "web-1:42" in str(refused.value)
    assert NotificationJobRun.objects.filter(status="InProgress").get().job_id == first.job_id
    refusal = NotificationJobRun.objects.get(status="Refused")
    assert (refusal.started_by, refusal.triggered_by) == ("web-2:7", "bob")
    assert refusal.completed_at is not None and refusal.heartbeat_at is None
    assert refusal.error_message == f"Refused: run {first.job_id} on web-1:42 held the lock."
    assert live_run(job=NotificationJobRun).job_id == first.job_id
    first.release(status="Completed", success_count=0, failed_count=0)


def test_the_two_job_locks_are_independent():
    notifications = lock_acquire(job=NotificationJobRun, triggered_by="alice")
    assert live_run(job=RevokeExpiredJobRun) is None
    revoke = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    assert live_run(job=NotificationJobRun).job_id == notifications.job_id
    assert live_run(job=RevokeExpiredJobRun).job_id == revoke.job_id
    assert revoke.release(status="Completed", revoked_count=3)
    assert live_run(job=NotificationJobRun) is not None
    assert notifications.release(status="Completed", success_count=1, failed_count=0)


def test_release_completed_records_counts_and_frees_the_lock():
    lock = lock_acquire(job=NotificationJobRun, triggered_by="alice")
    assert lock.release(
        status="Completed", success_count=8, failed_count=2, total_count=10, processed_count=10
    )
    run = NotificationJobRun.objects.get(job_id=lock.job_id)
    assert run.status == "Completed"
    assert (run.success_count, run.failed_count, run.total_count, run.processed_count) == (8, 2, 10, 10)
    assert run.completed_at >= run.started_at
    assert run.error_message is None
    assert live_run(job=NotificationJobRun) is None


def test_release_failed_records_the_error_and_a_second_release_does_nothing():
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    assert lock.release(status="Failed", error="SMTP down", revoked_count=0)
    assert not lock.release(status="Completed", revoked_count=5)
    run = RevokeExpiredJobRun.objects.get(job_id=lock.job_id)
    assert (run.status, run.error_message, run.revoked_count) == ("Failed", "SMTP down", 0)


@pytest.mark.parametrize(
    "status, counts",
    [("InProgress", {}), ("Abandoned", {}), ("Completed", {"revoked_count": 1, "success_count": 1})],
)
def test_release_with_a_bad_status_or_count_is_refused_and_keeps_the_lock(status, counts):
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    with pytest.raises(ValueError):
        lock.release(status=status, **counts)
    assert live_run(job=RevokeExpiredJobRun).job_id == lock.job_id
    assert lock.release(status="Completed", revoked_count=1)


def test_progress_shows_in_the_status():
    lock = lock_acquire(job=NotificationJobRun, triggered_by="alice")
    assert lock.progress(processed=17, total=40)
    active = live_run(job=NotificationJobRun)
    assert (active.processed_count, active.total_count) == (17, 40)
    lock.release(status="Completed", success_count=40, failed_count=0)


def test_heartbeat_thread_moves_heartbeat_at_while_the_job_works(settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    first = RevokeExpiredJobRun.objects.get(job_id=lock.job_id).heartbeat_at
    with lock:
        deadline = time.monotonic() + 10
        while RevokeExpiredJobRun.objects.get(job_id=lock.job_id).heartbeat_at == first:
            assert time.monotonic() < deadline, "no heartbeat"
            lock.wait(0.05)
    assert lock._thread is None  # stopped on leaving the block
    lock.release(status="Completed", revoked_count=0)


def test_a_run_that_stopped_beating_is_taken_over_and_marked_abandoned(settings, lock_log):
    settings.JOB_STALE_AFTER_SECONDS = 60
    dead = lock_acquire(job=RevokeExpiredJobRun, triggered_by="cron", started_by="web-1:42")
    lock_stop_beating(dead, seconds_ago=61)
    assert live_run(job=RevokeExpiredJobRun) is None

    taker = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice", started_by="web-2:7")
    old = RevokeExpiredJobRun.objects.get(job_id=dead.job_id)
    assert old.status == "Abandoned"
    assert old.completed_at is not None
    assert old.error_message == (
        f"Abandoned: no heartbeat for 60 s (server web-1:42 presumed dead); "
        f"taken over by run {taker.job_id} on web-2:7."
    )
    [takeover] = lock_log("job_takeover")
    assert (takeover.jobId, takeover.abandonedJobId, takeover.server) == (
        taker.job_id,
        dead.job_id,
        "web-2:7",
    )
    assert live_run(job=RevokeExpiredJobRun).job_id == taker.job_id
    taker.release(status="Completed", revoked_count=0)


def test_a_run_still_beating_is_never_taken_over_however_long_it_runs(settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    long_run = lock_acquire(job=RevokeExpiredJobRun, triggered_by="cron")
    # Started two hours ago (the seed's 10-minute rule would steal it), beat just now.
    RevokeExpiredJobRun.objects.filter(job_id=long_run.job_id).update(
        started_at=db_now() - timedelta(hours=2)
    )
    assert long_run.heartbeat()
    with pytest.raises(LockHeld):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    assert RevokeExpiredJobRun.objects.get(job_id=long_run.job_id).status == "InProgress"
    long_run.release(status="Completed", revoked_count=0)


def test_a_taken_over_run_is_fenced_off_and_leaves_the_new_row_alone(settings, lock_log):
    settings.JOB_STALE_AFTER_SECONDS = 60
    old = lock_acquire(job=NotificationJobRun, triggered_by="cron")
    lock_stop_beating(old, seconds_ago=120)
    new = lock_acquire(job=NotificationJobRun, triggered_by="alice")

    with pytest.raises(LockLost), transaction.atomic():
        old.fence()
        NotificationJobRun.objects.filter(job_id=new.job_id).update(total_count=999)  # never runs
    assert old.lost.is_set()
    assert old.wait(30) is False  # returns at once
    assert not old.progress(processed=1, total=2)
    assert not old.heartbeat()
    assert old.release(status="Failed", error="stopped") is False
    assert len(lock_log("lock_lost")) == 1

    old_row = NotificationJobRun.objects.get(job_id=old.job_id)  # its own row: Failed, and why
    assert old_row.status == "Failed" and old_row.error_message.startswith("stopped Abandoned:")
    mine = NotificationJobRun.objects.get(job_id=new.job_id)
    assert (mine.status, mine.total_count, mine.error_message) == ("InProgress", None, None)
    assert new.release(status="Completed", success_count=0, failed_count=0)


def test_fence_inside_the_job_transaction_lets_the_writes_through_while_held():
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    with transaction.atomic():
        lock.fence()
        lock.progress(processed=1, total=1)
    assert RevokeExpiredJobRun.objects.get(job_id=lock.job_id).processed_count == 1
    lock.release(status="Completed", revoked_count=1)


def test_fence_with_progress_records_it_with_the_transaction_and_refuses_when_lost(settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    with transaction.atomic():
        lock.fence(processed=5, total=10)
    with pytest.raises(RuntimeError), transaction.atomic():
        lock.fence(processed=10, total=10)
        raise RuntimeError("the chunk failed")  # its progress rolls back with it
    row = RevokeExpiredJobRun.objects.get(job_id=lock.job_id)
    assert (row.processed_count, row.total_count) == (5, 10)

    lock_stop_beating(lock, seconds_ago=120)
    new = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    with pytest.raises(LockLost), transaction.atomic():
        lock.fence(processed=10, total=10)
    assert RevokeExpiredJobRun.objects.get(job_id=new.job_id).processed_count is None
    new.release(status="Completed", revoked_count=0)


def test_second_acquire_is_refused_until_release():
    first = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    with pytest.raises(LockHeld) as refused:
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    assert refused.value.holder.job_id == first.job_id
    assert str(refused.value).startswith(
        f"The revoke job is already running (run {first.job_id}, started by "
    )
    assert first.release(status="Completed", revoked_count=0)
    assert live_run(job=RevokeExpiredJobRun) is None
    second = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    second.release(status="Completed", revoked_count=0)


def test_an_integrity_error_that_is_not_the_lock_is_not_taken_for_held(monkeypatch):
    """Only the filtered unique index's violation means "held": a clash of Job_Id (unique too)
    is an error, not a refusal."""
    first = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    first.release(status="Completed", revoked_count=0)
    monkeypatch.setattr("jobs.lock.uuid.uuid4", lambda: first.job_id)
    with pytest.raises(IntegrityError):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    assert not RevokeExpiredJobRun.objects.filter(status="Refused").exists()


def test_lock_events_are_logged_with_structured_fields(lock_log):
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice", started_by="web-1:42")
    with pytest.raises(LockHeld):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob", started_by="web-2:7")
    lock.release(status="Completed", revoked_count=3)

    [started] = lock_log("job_started")
    assert (started.job, started.jobId, started.server, started.triggeredBy) == (
        "revoke",
        lock.job_id,
        "web-1:42",
        "alice",
    )
    assert "alice" in started.getMessage() and "revoke" in started.getMessage()
    [refused] = lock_log("job_refused")
    assert (refused.server, refused.triggeredBy, refused.holderJobId) == ("web-2:7", "bob", lock.job_id)
    [finished] = lock_log("job_finished")
    assert (finished.status, finished.counts, finished.jobId) == (
        "Completed",
        {"revoked_count": 3},
        lock.job_id,
    )
    assert finished.duration >= 0
    assert "revoked_count=3" in finished.getMessage()


@pytest.mark.parametrize(
    "heartbeat, stale, ok",
    [("30", "600", True), ("0.2", "1", True), ("0.6", "1", False), ("600", "600", False)],
)
def test_start_up_refuses_a_heartbeat_not_well_below_the_stale_limit(heartbeat, stale, ok):
    result = django_start(JOB_HEARTBEAT_SECONDS=heartbeat, JOB_STALE_AFTER_SECONDS=stale)
    if ok:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert "JOB_HEARTBEAT_SECONDS" in result.stderr


def test_a_seed_row_without_heartbeat_counts_from_its_start(settings):
    """Rows written by the seed's app have no Heartbeat_At: stale 60 s after Started_At."""
    settings.JOB_STALE_AFTER_SECONDS = 60
    fresh = RevokeExpiredJobRun.objects.create(
        job_id="seed-fresh", status="InProgress", started_at=db_now(), started_by="SEEDSRV"
    )
    assert live_run(job=RevokeExpiredJobRun).job_id == "seed-fresh"
    with pytest.raises(LockHeld):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")

    RevokeExpiredJobRun.objects.filter(pk=fresh.pk).update(started_at=db_now() - timedelta(minutes=11))
    assert live_run(job=RevokeExpiredJobRun) is None
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    assert RevokeExpiredJobRun.objects.get(pk=fresh.pk).status == "Abandoned"
    lock.release(status="Completed", revoked_count=0)


def test_sqlite_opens_write_transactions_immediately():
    """On SQLite the acquire (abandon + insert) must hold the write lock from its first
    statement: a DEFERRED transaction that reads and then writes can fail with
    "database is locked" instead of waiting its turn."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert connection.settings_dict["OPTIONS"]["timeout"] >= 5


@pytest.mark.parametrize(
    "variables, named",
    [
        ({"EMAIL_TIMEOUT": "200"}, "EMAIL_TIMEOUT"),  # the default margin is 600 / 4 = 150 s
        ({"JOB_STATEMENT_TIMEOUT_SECONDS": "150"}, "JOB_STATEMENT_TIMEOUT_SECONDS"),
        ({"JOB_LEASE_MARGIN_SECONDS": "20", "EMAIL_TIMEOUT": "30"}, "EMAIL_TIMEOUT"),  # sends outlast it
        ({"JOB_LEASE_MARGIN_SECONDS": "580"}, "JOB_HEARTBEAT_SECONDS"),  # a 20 s lease, beats every 30 s
    ],
)
def test_start_up_refuses_timeouts_that_do_not_fit_inside_the_lease_margin(variables, named):
    result = django_start(JOB_HEARTBEAT_SECONDS="30", JOB_STALE_AFTER_SECONDS="600", **variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr
    assert "JOB_LEASE_MARGIN_SECONDS" in result.stderr


def test_start_up_fits_the_default_timeouts_inside_the_lease_margin():
    code = "from django.conf import settings as s; print(s.EMAIL_TIMEOUT, s.JOB_STATEMENT_TIMEOUT_SECONDS)"
    result = django_start(JOB_HEARTBEAT_SECONDS="0.2", JOB_STALE_AFTER_SECONDS="1", code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.125", "0.125"]  # half the 0.25 s margin
    result = django_start(JOB_LEASE_MARGIN_SECONDS="45", code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["22.5", "10.0"]


def test_start_up_refuses_a_postgresql_pool_too_small_for_a_notification_run():
    result = django_start(DATABASE_URL="postgres://root@127.0.0.1:5432/test", DB_POOL_MAX_SIZE="3")
    assert result.returncode != 0
    assert "DB_POOL_MAX_SIZE must be at least 4" in result.stderr
