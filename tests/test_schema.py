"""The request tables' indexes (docs/schema.md): every one serves a query, because a
revoke writes an entry to each index of UserAccessRequest and of RevokedAccess."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jobs.models import NotificationClaim, RevokeExpiredJobRun
from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest
from requests_app.selectors import search_filter

REQUEST_TABLES = [
    m._meta.db_table
    for m in (UserAccessRequest, RevokedAccess, ExpiryNotification, AccessEvent, NotificationClaim)
]


def indexes(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: c for name, c in constraints.items() if c["index"] or c["unique"] or c["primary_key"]}


@pytest.mark.django_db
def test_the_requests_indexes_are_the_ones_the_queries_read():
    columns = {tuple(c["columns"]) for c in indexes(UserAccessRequest._meta.db_table).values()}
    assert {
        ("Id",),
        ("Request_Id",),
        ("Status", "Expires_On", "Id"),
        ("Created_At", "Id"),
        ("Status", "Created_At", "Id"),
    } <= columns
    # The search is a case-insensitive "contains": no B-tree on the email serves it.
    assert ("Requestor_Email",) not in columns


@pytest.mark.django_db
def test_postgresql_has_no_like_index_on_request_ids(postgres_only):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [REQUEST_TABLES, "%pattern_ops%"],
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_postgresql_search_uses_the_trigram_index(postgres_only):
    sql, params = (
        UserAccessRequest.objects.filter(search_filter("user12345")).values("id").query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is tiny: ask for its index
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "uar_search_trgm_idx" in plan


@pytest.mark.django_db(transaction=True)
def test_migration_0007_reads_the_holder_of_older_refused_runs_from_their_message():
    executor = MigrationExecutor(connection)
    executor.migrate([("jobs", "0006_deliver_events_job_run")])
    old = executor.loader.project_state([("jobs", "0006_deliver_events_job_run")]).apps
    holder = "0f0e0d0c-0b0a-4999-8888-777766665555"
    refused = old.get_model("jobs", "RevokeExpiredJobRun").objects.create(
        job_id="11111111-2222-4333-8444-555555555555",
        status="Refused",
        started_at=timezone.now(),
        started_by="web-2",
        error_message=f"Refused: run {holder} on web-1 held the lock.",
    )

    executor = MigrationExecutor(connection)  # reloads the graph after the first migrate
    executor.migrate(executor.loader.graph.leaf_nodes())  # the latest schema again, for the next tests

    assert RevokeExpiredJobRun.objects.get(id=refused.id).holder_job_id == holder
