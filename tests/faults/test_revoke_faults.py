"""The revoke job under faults: `manage.py run_revoke` in a child process whose database
traffic goes through a FaultProxy, killed, cut off or stalled in the middle of its chunks.
Afterwards no request is Revoked without its RevokedAccess row or the other way round, no
request is recorded twice, and the next run revokes the rest.

The proxy adds a few ms to each round trip so a run spans its 40 chunks long enough to be
caught in the middle; the app itself never sleeps."""

import signal
import time
from datetime import timedelta

import pytest
from django.db import connection

from jobs.lock import LockHeld
from jobs.models import RevokeExpiredJobRun
from jobs.revoke import RevokeResult, revoke_expired_run
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.factories import requests_make
from tests.faults.child import WAIT_SECONDS, ManageCommand, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPIRED = 1000
JOB_SETTINGS = {
    "REVOKE_CHUNK_SIZE": "25",  # 40 chunks, each its own transaction
    "JOB_HEARTBEAT_SECONDS": "0.2",
    "JOB_STALE_AFTER_SECONDS": "1",  # so sessions idle in a transaction end after 0.5 s
    "DB_POOL_TIMEOUT": "1",
    "LOG_FORMAT": "plain",
}
ROUND_TRIP_DELAY = 0.01


def revoke_run(env: dict, log_dir, name: str) -> ManageCommand:
    return ManageCommand(["run_revoke", "--json"], env={**env, **JOB_SETTINGS}, log_dir=log_dir, name=name)


def revoked_so_far() -> int:
    return RevokedAccess.objects.count()


def assert_consistent() -> set[str]:
    """Revoked requests and RevokedAccess rows are the same set, each row once; returns it."""
    revoked = set(UserAccessRequest.objects.filter(status="Revoked").values_list("request_id", flat=True))
    recorded = list(RevokedAccess.objects.values_list("request_id", flat=True))
    assert len(recorded) == len(set(recorded)), "a request was recorded twice"
    assert set(recorded) == revoked, (
        f"{len(revoked - set(recorded))} revoked without a row, {len(set(recorded) - revoked)} rows not revoked"
    )
    return revoked


def next_run_completes_the_rest(*, before: int) -> RevokeResult:
    """Start a run here, directly on the database, until it is not refused (a dead holder's
    row holds the lock until it is stale); it must revoke everything that was left."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            result = revoke_expired_run(triggered_by="next run")
            break
        except LockHeld:
            assert time.monotonic() < deadline, "the dead holder's lock never went stale"
            time.sleep(0.05)
    assert result.revoked_count == EXPIRED - before
    assert not UserAccessRequest.objects.filter(status="Active").exists()
    assert len(assert_consistent()) == EXPIRED
    return result


@pytest.fixture
def expired(postgres_only, settings):
    settings.JOB_STALE_AFTER_SECONDS = float(JOB_SETTINGS["JOB_STALE_AFTER_SECONDS"])  # the next run's
    requests_make(EXPIRED, expires_in=-timedelta(days=1))


@pytest.fixture
def slow_proxy(db_proxy):
    db_proxy.delay(ROUND_TRIP_DELAY)
    return db_proxy


def test_killed_mid_run_leaves_consistent_rows_and_the_next_run_takes_over(
    expired, slow_proxy, proxied_env, tmp_path
):
    run = revoke_run(proxied_env, tmp_path, "killed")
    wait_for(revoked_so_far, "the first chunk")
    run.process.send_signal(signal.SIGKILL)
    assert run.wait()[0] == -signal.SIGKILL

    before = len(assert_consistent())
    assert 0 < before < EXPIRED
    killed = RevokeExpiredJobRun.objects.get(started_by__startswith="killed:")
    assert killed.status == "InProgress"  # nobody released it: it goes stale

    result = next_run_completes_the_rest(before=before)
    killed.refresh_from_db()
    assert killed.status == "Abandoned" and result.job_id in killed.error_message


@pytest.mark.parametrize("refuse", [False, True], ids=["cut", "cut-and-refuse"])
def test_database_cut_mid_run_leaves_consistent_rows_and_the_next_run_completes(
    refuse, expired, slow_proxy, proxied_env, tmp_path
):
    run = revoke_run(proxied_env, tmp_path, "cut")
    wait_for(revoked_so_far, "the first chunk")
    slow_proxy.cut(refuse=refuse)
    code, result = run.wait()
    assert code == 1, run.stderr

    before = len(assert_consistent())
    assert 0 < before < EXPIRED
    cut = RevokeExpiredJobRun.objects.get(started_by__startswith="cut:")
    if refuse:
        # Its release could not reach the database either: the row goes stale.
        assert cut.status == "InProgress"
    else:
        # The release is retried on a fresh connection: Failed at once, with its count.
        assert cut.status == "Failed" and cut.revoked_count == before == result["revokedCount"]
    slow_proxy.restore()

    next_run_completes_the_rest(before=before)


def sessions_through(proxy) -> list[tuple[str, bool]]:
    """(state, holds the run table's row lock) of each PostgreSQL session that goes through
    the proxy. An UPDATE of the run row keeps the table's RowExclusiveLock until its
    transaction ends; a bare BEGIN takes none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.state, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid "
            "AND l.relation = %s::regclass AND l.mode = 'RowExclusiveLock') "
            "FROM pg_stat_activity a WHERE a.client_port = ANY(%s)",
            [connection.ops.quote_name(RevokeExpiredJobRun._meta.db_table), list(proxy.upstream_ports())],
        )
        return cursor.fetchall()


def pause_inside_a_chunk(proxy) -> None:
    """Pause the proxy at a moment when the run has a chunk transaction open that has
    fenced (updated) its run row, so it holds that row's lock, as a stall of the database
    traffic mid-chunk would leave it."""
    for _ in range(200):
        proxy.pause()
        sessions = wait_for(
            lambda: (s := sessions_through(proxy)) and all(state != "active" for state, _ in s) and s,
            "the held sessions to settle",
        )
        if ("idle in transaction", True) in sessions:
            return
        proxy.resume()
        time.sleep(0.005)
    pytest.fail("never caught the run inside a chunk transaction")


def test_stalled_mid_chunk_the_holder_cannot_block_the_takeover(expired, slow_proxy, proxied_env, tmp_path):
    stalled = revoke_run(proxied_env, tmp_path, "stalled")
    wait_for(revoked_so_far, "the first chunk")
    pause_inside_a_chunk(slow_proxy)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '20s'")  # if the holder did block us: fail, not hang
    try:
        # While the holder's traffic is held (its chunk transaction open, its row locked),
        # another server's run takes over once the holder is stale: PostgreSQL ends the
        # idle transaction after half the stale window, so the taker is not blocked.
        before = len(assert_consistent())
        result = next_run_completes_the_rest(before=before)
    finally:
        slow_proxy.resume()
    code, _ = stalled.wait()
    assert code == 1, stalled.stderr  # its session was ended, its lock taken over

    holder = RevokeExpiredJobRun.objects.get(started_by__startswith="stalled:")
    # Taken over, then marked Failed by its own process once it resumed (the taker's text kept).
    assert holder.status in ("Abandoned", "Failed") and result.job_id in holder.error_message
    assert len(assert_consistent()) == EXPIRED  # nothing written twice once it resumed
