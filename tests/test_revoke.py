"""The revoke job (jobs/revoke.py) against a real database."""

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import jobs.revoke
from accessmgr.db import db_now
from jobs.dialects import dialect_for
from jobs.lock import LockHeld
from jobs.models import RevokeExpiredJobRun
from jobs.revoke import revoke_expired_run
from jobs.runner import JobFailed
from jobs.status import live_run
from requests_app.models import REVOKED_BY_JOB, AccessEvent, RevokedAccess, UserAccessRequest
from requests_app.selectors import access_request_expired
from tests.factories import lock_held, requests_make
from webhooks.models import REVOKED as WEBHOOK_REVOKED
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVE = UserAccessRequest.Status.ACTIVE
REVOKED = UserAccessRequest.Status.REVOKED


def statuses() -> dict[str, str]:
    return dict(UserAccessRequest.objects.values_list("request_id", "status"))


ONE_STATEMENT, TWO_WRITES = "one statement", "two writes"


def way_force(way: str, monkeypatch) -> str:
    """Revoke chunks `way` on this database: one statement needs PostgreSQL; two writes
    (UPDATE … RETURNING, then INSERT … SELECT) is every other database's way, and can be
    forced on PostgreSQL too."""
    one = dialect_for().revoke_in_one_statement
    if way == ONE_STATEMENT and not one:
        pytest.skip("one statement: PostgreSQL only")
    if way == TWO_WRITES and one:
        dialect = replace(dialect_for(), revoke_in_one_statement=False)
        monkeypatch.setattr(jobs.revoke, "dialect_for", lambda: dialect)
    return way


@pytest.fixture(params=[ONE_STATEMENT, TWO_WRITES])
def chunk_way(request, monkeypatch) -> str:
    """Each test that uses it runs once per way of revoking a chunk this database can do."""
    return way_force(request.param, monkeypatch)


@pytest.fixture
def two_writes(monkeypatch) -> str:
    return way_force(TWO_WRITES, monkeypatch)


def test_each_database_revokes_in_the_fewest_statements_it_allows():
    assert dialect_for().revoke_in_one_statement == (connection.vendor == "postgresql")


def chunk_writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that wrote RevokedAccess rows: INSERT … SELECT, or PostgreSQL's one
    WITH revoked AS (UPDATE … RETURNING) INSERT … statement."""
    table = connection.ops.quote_name(RevokedAccess._meta.db_table)
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(f"INSERT INTO {table}") or q["sql"].startswith("WITH revoked AS (UPDATE ")
    ]


def test_expired_set_is_revoked_and_recorded_exactly(chunk_way):
    expired = requests_make(3, expires_in=-timedelta(days=2)) + requests_make(
        1, expires_in=-timedelta(minutes=1)
    )
    future = requests_make(2, expires_in=timedelta(days=5))
    never = requests_make(1, expires_in=None)
    already = requests_make(1, expires_in=-timedelta(days=9), status=REVOKED)
    RevokedAccess.objects.create(
        request=already[0], revoked_dt=timezone.now(), revoked_by="admin", job_id=None
    )

    result = revoke_expired_run(triggered_by="alice")

    expired_ids = {r.request_id for r in expired}
    assert result.revoked_count == 4
    assert result.message == "Revoked 4 expired access requests."
    now = statuses()
    assert {rid for rid, s in now.items() if s == REVOKED} == expired_ids | {already[0].request_id}
    assert all(now[r.request_id] == ACTIVE for r in future + never)

    records = RevokedAccess.objects.filter(job_id=result.job_id)
    assert {r.request_id for r in records} == expired_ids
    assert records.count() == 4
    assert {r.revoked_by for r in records} == {REVOKED_BY_JOB}
    assert {r.revoked_dt.isoformat() for r in records} == {result.revoked_at.isoformat()}
    assert not RevokedAccess.objects.filter(request__in=future + never).exists()
    assert RevokedAccess.objects.get(request=already[0]).revoked_by == "admin"  # untouched

    run = RevokeExpiredJobRun.objects.get(job_id=result.job_id)
    assert (run.status, run.revoked_count, run.triggered_by) == ("Completed", 4, "alice")
    assert (run.processed_count, run.total_count) == (4, 4)
    assert run.completed_at is not None
    assert live_run(job=RevokeExpiredJobRun) is None

    # one access_request.revoked outbox event per request this run revoked, none for the others
    events = WebhookEvent.objects.all()
    assert sorted(e.request_id for e in events) == sorted(expired_ids)
    assert {(e.type, e.job_id, e.data) for e in events} == {(WEBHOOK_REVOKED, result.job_id, None)}


def test_no_expired_requests_completes_with_zero_and_says_so():
    requests_make(2, expires_in=timedelta(days=1))
    requests_make(1, expires_in=None)

    result = revoke_expired_run(triggered_by="alice")

    assert (result.revoked_count, result.revoked_at) == (0, None)
    assert result.message == "No expired requests found to revoke."
    run = RevokeExpiredJobRun.objects.get(job_id=result.job_id)
    assert (run.status, run.revoked_count) == ("Completed", 0)
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()


def test_second_run_while_first_holds_the_lock_is_refused_and_changes_nothing():
    requests_make(2, expires_in=-timedelta(days=1))
    with (
        lock_held(RevokeExpiredJobRun, triggered_by="bob", started_by="server-a:123") as holder,
        pytest.raises(LockHeld) as refused,
    ):
        revoke_expired_run(triggered_by="alice")

    assert refused.value.holder.job_id == holder.job_id
    assert refused.value.holder.started_by == "server-a:123"
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()
    assert RevokeExpiredJobRun.objects.exclude(status="Refused").count() == 1
    assert RevokeExpiredJobRun.objects.filter(status="Refused").count() == 1  # history only


def test_fault_between_the_two_writes_leaves_both_tables_unchanged_and_the_run_failed(
    monkeypatch, two_writes
):
    expired = requests_make(5, expires_in=-timedelta(days=1))

    def insert_fails(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.revoke, "revocations_insert", insert_fails)
    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    assert all(statuses()[r.request_id] == ACTIVE for r in expired)
    assert not RevokedAccess.objects.exists()
    run = RevokeExpiredJobRun.objects.get(job_id=failed.value.job_id)
    assert run.status == "Failed"
    assert "disk on fire" in run.error_message
    assert run.revoked_count == 0
    assert failed.value.counts == {"revoked_count": 0}
    assert live_run(job=RevokeExpiredJobRun) is None


def test_fault_after_the_one_statement_before_commit_leaves_both_tables_unchanged(monkeypatch, postgres_only):
    expired = requests_make(5, expires_in=-timedelta(days=1))
    real_chunk = jobs.revoke.revoke_chunk
    written = []

    def fails_after_writing(**kwargs):
        written.append(real_chunk(**kwargs))  # the chunk's one statement ran…
        raise RuntimeError("disk on fire")  # …and the transaction never commits

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", fails_after_writing)
    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    assert written == [5]
    assert all(statuses()[r.request_id] == ACTIVE for r in expired)
    assert not RevokedAccess.objects.exists()
    run = RevokeExpiredJobRun.objects.get(job_id=failed.value.job_id)
    assert (run.status, run.revoked_count) == ("Failed", 0)
    assert "disk on fire" in run.error_message
    assert live_run(job=RevokeExpiredJobRun) is None


def test_fault_in_a_later_chunk_keeps_earlier_chunks_whole_and_rolls_back_its_own(
    monkeypatch, settings, chunk_way
):
    settings.REVOKE_CHUNK_SIZE = 3
    requests_make(8, expires_in=-timedelta(days=1))  # chunks of 3, 3, 2
    real_chunk = jobs.revoke.revoke_chunk
    calls = itertools.count(1)

    def third_chunk_fails(**kwargs):
        if next(calls) == 3:
            raise RuntimeError("connection reset")
        return real_chunk(**kwargs)

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", third_chunk_fails)
    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    revoked = set(UserAccessRequest.objects.filter(status=REVOKED).values_list("request_id", flat=True))
    recorded = set(RevokedAccess.objects.values_list("request_id", flat=True))
    assert len(revoked) == 6
    assert revoked == recorded
    run = RevokeExpiredJobRun.objects.get(job_id=failed.value.job_id)
    assert (run.status, run.revoked_count, run.processed_count, run.total_count) == ("Failed", 6, 6, 8)


def test_recorded_count_differing_from_revoked_count_rolls_the_chunk_back(monkeypatch, two_writes):
    # On PostgreSQL's one statement the two counts are one rowcount: only this path can differ.
    requests_make(4, expires_in=-timedelta(days=1))
    real_insert = jobs.revoke.revocations_insert

    def records_one_too_few(*, ids, **kwargs):
        return real_insert(ids=ids[:-1], **kwargs)

    monkeypatch.setattr(jobs.revoke, "revocations_insert", records_one_too_few)
    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    assert "revoked 4 requests but recorded 3" in failed.value.error
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()
    assert RevokeExpiredJobRun.objects.get().status == "Failed"


def test_each_chunk_is_recorded_with_one_insert_select_statement(settings, two_writes):
    settings.REVOKE_CHUNK_SIZE = 3
    expired = requests_make(8, expires_in=-timedelta(days=1))  # chunks of 3, 3, 2
    table = connection.ops.quote_name(RevokedAccess._meta.db_table)

    with CaptureQueriesContext(connection) as queries:
        result = revoke_expired_run(triggered_by="alice")

    inserts = chunk_writes(queries)
    assert len(inserts) == 3
    assert all(sql.startswith(f"INSERT INTO {table}") and " SELECT " in sql for sql in inserts)
    requests_table = connection.ops.quote_name(UserAccessRequest._meta.db_table)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {requests_table}")]
    assert len(updates) == 3
    assert all(sql.endswith(" RETURNING " + connection.ops.quote_name("Id")) for sql in updates)
    chunk_selects = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and f"FROM {requests_table}" in q["sql"] and " IN (" in q["sql"]
    ]
    assert chunk_selects == []  # the UPDATE says which rows it changed: no SELECT pass
    records = RevokedAccess.objects.filter(job_id=result.job_id)
    assert {r.request_id for r in records} == {r.request_id for r in expired}
    assert {(r.revoked_by, r.revoked_dt.isoformat()) for r in records} == {
        (REVOKED_BY_JOB, result.revoked_at.isoformat())
    }


def test_on_postgresql_each_chunk_is_one_update_returning_insert_statement(settings, postgres_only):
    settings.REVOKE_CHUNK_SIZE = 3
    expired = requests_make(8, expires_in=-timedelta(days=1))  # chunks of 3, 3, 2
    requests_table = connection.ops.quote_name(UserAccessRequest._meta.db_table)

    with CaptureQueriesContext(connection) as queries:
        result = revoke_expired_run(triggered_by="alice")

    writes = chunk_writes(queries)
    assert len(writes) == 3
    assert all(f"UPDATE {requests_table} " in sql and " RETURNING " in sql for sql in writes)
    others = [q["sql"] for q in queries.captured_queries if q["sql"] not in writes]
    assert not [sql for sql in others if "FOR UPDATE" in sql]  # the UPDATE takes the row locks
    assert not [sql for sql in others if sql.startswith(f"UPDATE {requests_table}")]
    records = RevokedAccess.objects.filter(job_id=result.job_id)
    assert {r.request_id for r in records} == {r.request_id for r in expired}
    assert {(r.revoked_by, r.revoked_dt.isoformat()) for r in records} == {
        (REVOKED_BY_JOB, result.revoked_at.isoformat())
    }
    run = RevokeExpiredJobRun.objects.get(job_id=result.job_id)
    assert (run.status, run.revoked_count, run.processed_count) == ("Completed", 8, 8)


def test_chunk_size_above_the_parameter_limit_is_capped(settings, two_writes, monkeypatch):
    """Where each id is a parameter, a chunk carries at most the database's limit minus 4
    (here SQL Server's 2,100, imposed on this database's dialect)."""
    settings.REVOKE_CHUNK_SIZE = 5000
    capped = replace(jobs.revoke.dialect_for(), max_parameters=2100)
    monkeypatch.setattr(jobs.revoke, "dialect_for", lambda: capped)
    requests_make(2097, expires_in=-timedelta(days=1))

    with CaptureQueriesContext(connection) as queries:
        result = revoke_expired_run(triggered_by="alice")

    assert len(chunk_writes(queries)) == 2  # 2,096 ids + 1 id
    assert result.revoked_count == RevokedAccess.objects.count() == 2097


def test_postgresql_revokes_its_default_chunk_in_one_statement(settings, postgres_only):
    settings.REVOKE_CHUNK_SIZE = 0
    requests_make(2500, expires_in=-timedelta(days=1))

    with CaptureQueriesContext(connection) as queries:
        result = revoke_expired_run(triggered_by="alice")

    assert len(chunk_writes(queries)) == 1  # the ids as one array: no parameter limit
    assert result.revoked_count == RevokedAccess.objects.count() == 2500
    assert AccessEvent.objects.filter(event_type="Revoked", job_id=result.job_id).count() == 2500
    assert WebhookEvent.objects.filter(type=WEBHOOK_REVOKED, job_id=result.job_id).count() == 2500


@pytest.mark.parametrize("away", [AccessEvent, WebhookEvent], ids=["audit", "outbox"])
def test_a_chunk_whose_event_insert_fails_in_the_database_is_rolled_back_whole(
    settings, chunk_way, table_away, away
):
    """The events are written by the statements this database runs (PostgreSQL: the chunk's
    one statement): with their table gone, the chunk fails and leaves nothing behind."""
    settings.REVOKE_CHUNK_SIZE = 3
    requests_make(5, expires_in=-timedelta(days=1))
    table_away(away)

    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    assert away._meta.db_table in failed.value.error
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()
    run = RevokeExpiredJobRun.objects.get(job_id=failed.value.job_id)
    assert (run.status, run.revoked_count) == ("Failed", 0)


def test_interrupt_mid_run_releases_the_lock_as_failed_and_changes_nothing(monkeypatch):
    requests_make(3, expires_in=-timedelta(days=1))

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        revoke_expired_run(triggered_by="run_revoke")

    run = RevokeExpiredJobRun.objects.get()
    assert (run.status, run.error_message) == ("Failed", "Interrupted (Ctrl-C)")
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()


def test_request_revoked_by_someone_else_after_collection_is_neither_updated_nor_recorded(
    monkeypatch, chunk_way
):
    expired = requests_make(4, expires_in=-timedelta(days=1))
    taken = expired[0]
    real_chunks = jobs.revoke._chunks

    def someone_else_revokes_first(ids, size):
        # Between the job's SELECT and its transaction, an admin revokes one request.
        UserAccessRequest.objects.filter(pk=taken.pk).update(status=REVOKED)
        RevokedAccess.objects.create(request=taken, revoked_dt=timezone.now(), revoked_by="admin")
        yield from real_chunks(ids, size)

    monkeypatch.setattr(jobs.revoke, "_chunks", someone_else_revokes_first)
    result = revoke_expired_run(triggered_by="alice")

    assert result.revoked_count == 3
    assert RevokedAccess.objects.filter(job_id=result.job_id).count() == 3
    assert RevokedAccess.objects.get(request=taken).revoked_by == "admin"
    assert set(statuses().values()) == {REVOKED}


def test_run_that_lost_its_lock_stops_before_writing(monkeypatch):
    requests_make(3, expires_in=-timedelta(days=1))
    real_chunks = jobs.revoke._chunks

    def taken_over(ids, size):
        # Another server decided this run was stale and took its lock over.
        RevokeExpiredJobRun.objects.filter(status="InProgress").update(status="Abandoned")
        yield from real_chunks(ids, size)

    monkeypatch.setattr(jobs.revoke, "_chunks", taken_over)
    with pytest.raises(JobFailed) as failed:
        revoke_expired_run(triggered_by="alice")

    assert "lost its lock" in failed.value.error
    assert set(statuses().values()) == {ACTIVE}
    assert not RevokedAccess.objects.exists()
    run = RevokeExpiredJobRun.objects.get()
    assert run.status == "Failed" and run.error_message.startswith(failed.value.error)


def test_ten_thousand_expired_requests_are_revoked_in_chunks_exactly(chunk_way):
    expired = requests_make(10_000, expires_in=-timedelta(hours=1))
    requests_make(50, expires_in=timedelta(days=3))

    result = revoke_expired_run(triggered_by="alice")

    assert result.revoked_count == 10_000
    revoked = set(UserAccessRequest.objects.filter(status=REVOKED).values_list("request_id", flat=True))
    recorded = set(RevokedAccess.objects.filter(job_id=result.job_id).values_list("request_id", flat=True))
    assert revoked == recorded == {r.request_id for r in expired}
    assert UserAccessRequest.objects.filter(status=ACTIVE).count() == 50
    run = RevokeExpiredJobRun.objects.get(job_id=result.job_id)
    assert (run.status, run.revoked_count, run.processed_count, run.total_count) == (
        "Completed",
        10_000,
        10_000,
        10_000,
    )


def test_the_set_it_revokes_is_the_pending_expiry_selectors():
    late = requests_make(1, expires_in=-timedelta(hours=1))
    early = requests_make(1, expires_in=-timedelta(days=3))
    requests_make(1, expires_in=timedelta(hours=1))
    requests_make(1, expires_in=None)
    requests_make(1, expires_in=-timedelta(days=1), status=REVOKED)

    assert [r.request_id for r in access_request_expired(now=db_now())] == [
        early[0].request_id,
        late[0].request_id,
    ]
    result = revoke_expired_run(triggered_by="alice")
    recorded = RevokedAccess.objects.filter(job_id=result.job_id).values_list("request_id", flat=True)
    assert set(recorded) == {early[0].request_id, late[0].request_id}


def test_each_chunk_fences_and_records_its_progress_in_one_update_of_the_runs_row(settings):
    settings.REVOKE_CHUNK_SIZE = 3
    requests_make(8, expires_in=-timedelta(days=1))  # chunks of 3, 3, 2
    runs_table = connection.ops.quote_name(RevokeExpiredJobRun._meta.db_table)

    with CaptureQueriesContext(connection) as queries:
        revoke_expired_run(triggered_by="alice")

    run_writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {runs_table}")]
    # the fence before reading, "0 of 8", one per chunk (its fence is its progress), the release
    assert len(run_writes) == 1 + 1 + 3 + 1
