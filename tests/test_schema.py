"""The request tables' indexes (docs/schema.md): every one serves a query, because a
revoke writes an entry to each index of UserAccessRequest and of RevokedAccess."""

import pytest
from django.db import connection

from requests_app.models import ExpiryNotification, RevokedAccess, UserAccessRequest
from requests_app.selectors import search_filter

REQUEST_TABLES = [m._meta.db_table for m in (UserAccessRequest, RevokedAccess, ExpiryNotification)]


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
