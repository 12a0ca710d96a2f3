"""The request tables' indexes (docs/schema.md): every one serves a query, because a
revoke writes an entry to each index of UserAccessRequest and of RevokedAccess."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jobs.dialects import REQUEST_SEARCH_INDEX, SEARCH_TEXT, SEARCH_TEXT_INDEX, dialect_for
from jobs.models import NotificationClaim, RevokeExpiredJobRun
from requests_app import services
from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest
from requests_app.selectors import search_filter

REQUEST_TABLES = [
    m._meta.db_table
    for m in (UserAccessRequest, RevokedAccess, ExpiryNotification, AccessEvent, NotificationClaim)
]


def constraints(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


def indexes(table: str) -> dict[str, dict]:
    return {
        name: c for name, c in constraints(table).items() if c["index"] or c["unique"] or c["primary_key"]
    }


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


def foreign_keys(table: str) -> dict[tuple, tuple]:
    return {tuple(c["columns"]): c["foreign_key"] for c in constraints(table).values() if c["foreign_key"]}


@pytest.mark.django_db
def test_the_audit_trail_names_its_request_without_a_database_foreign_key():
    assert foreign_keys(AccessEvent._meta.db_table) == {}
    assert ("Request_Id",) in [tuple(c["columns"]) for c in indexes(AccessEvent._meta.db_table).values()]
    assert foreign_keys(RevokedAccess._meta.db_table) == {
        ("Request_Id",): ("UserAccessRequest", "Request_Id")
    }

    made = ada_created()
    services.access_request_revoke(request_id=made.request_id, reason="left", revoked_by="tester")
    assert AccessEvent.objects.filter(request_id=made.request_id).count() == 2
    UserAccessRequest.objects.filter(pk=made.pk).delete()  # through Django: its events go with it
    assert not AccessEvent.objects.filter(request_id=made.request_id).exists()


@pytest.mark.django_db
def test_postgresql_has_no_like_index_on_request_ids(postgres_only):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [REQUEST_TABLES, "%pattern_ops%"],
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_postgresql_search_uses_the_trigram_index_of_the_search_text(postgres_only):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is tiny: ask for its index
        cursor.execute(f"EXPLAIN {dialect_for().search_ids_sql()}", ["%USER12345%"] * 4)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", ["UserAccessRequest"])
        request_indexes = {name for (name,) in cursor.fetchall()}
    assert SEARCH_TEXT_INDEX in plan
    assert REQUEST_SEARCH_INDEX not in request_indexes  # a revoke writes no trigram
    searched = UserAccessRequest.objects.filter(search_filter("user12345")).query
    assert f'"{SEARCH_TEXT}"' in str(searched)  # the search reads that table, not its own columns


def ada_created(**fields) -> UserAccessRequest:
    values = dict(requestor_name="Ada Lovelace", requestor_email="ada@example.com", resource_name="Ledger")
    return services.access_request_create(**(values | fields), duration="30")


def search_text(pk: int) -> tuple | None:
    """The request's row of the search text table, with its row version (xmin)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "Request_Id", "Requestor_Email", "Requestor_Name", "Resource_Name", xmin::text '
            f'FROM "{SEARCH_TEXT}" WHERE "Id" = %s',
            [pk],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_postgresql_search_text_follows_every_write_but_a_revoke(postgres_only):
    made = ada_created(requestor_email="Ada@Example.com")
    *text, _ = search_text(made.pk)
    assert text == [made.request_id.upper(), "ADA@EXAMPLE.COM", "ADA LOVELACE", "LEDGER"]

    made.requestor_name = "Grace Hopper"
    made.save()
    UserAccessRequest.objects.filter(pk=made.pk).update(resource_name="Payroll")
    *text, version = search_text(made.pk)
    assert text[2:] == ["GRACE HOPPER", "PAYROLL"]
    assert list(UserAccessRequest.objects.filter(search_filter("hopper"))) == [made]
    assert not UserAccessRequest.objects.filter(search_filter("lovelace")).exists()

    services.access_request_revoke(request_id=made.request_id, reason="left", revoked_by="tester")
    assert search_text(made.pk)[-1] == version  # not rewritten

    other = services.access_request_create(
        requestor_name="Alan Turing", requestor_email="alan@example.com", resource_name="Bombe", duration="30"
    )
    UserAccessRequest.objects.filter(pk=made.pk).delete()
    assert search_text(made.pk) is None
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending trigger events
        cursor.execute('TRUNCATE "UserAccessRequest" CASCADE')
    assert search_text(other.pk) is None


@pytest.mark.django_db
def test_postgresql_search_text_follows_an_id_change_and_comes_back_when_missing(postgres_only):
    """Writes only another client makes: its Id changed, or its search row gone."""
    made = ada_created()
    new_id = made.pk + 1000
    with connection.cursor() as cursor:
        cursor.execute('UPDATE "UserAccessRequest" SET "Id" = %s WHERE "Id" = %s', [new_id, made.pk])
    assert search_text(made.pk) is None
    assert search_text(new_id)[2] == "ADA LOVELACE"

    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{SEARCH_TEXT}" WHERE "Id" = %s', [new_id])
    UserAccessRequest.objects.filter(pk=new_id).update(resource_name="Payroll")
    *text, _ = search_text(new_id)
    assert text == [made.request_id.upper(), "ADA@EXAMPLE.COM", "ADA LOVELACE", "PAYROLL"]


@pytest.mark.django_db
@pytest.mark.parametrize("search", ["100%", "a_b", "x\\y"])
def test_search_wildcards_are_plain_characters(make_request, search):
    plain = make_request(requestor_name="100 percent aXb xy")
    literal = make_request(requestor_name=f"Has {search} in it")
    found = UserAccessRequest.objects.filter(search_filter(search))
    assert list(found) == [literal]
    assert plain not in found


@pytest.mark.django_db(transaction=True)
def test_migration_0011_fills_the_search_text_and_reverses_to_the_old_index(make_request):
    made = make_request(requestor_name="Before Migration")
    executor = MigrationExecutor(connection)
    executor.migrate([("requests_app", "0010_accessevent_no_pattern_index")])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)::text", [f'"{SEARCH_TEXT}"'])
            assert cursor.fetchone() == (None,)
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = %s", [REQUEST_SEARCH_INDEX])
            assert cursor.fetchall() == [(REQUEST_SEARCH_INDEX,)]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(UserAccessRequest.objects.filter(search_filter("before migr"))) == [made]


@pytest.mark.django_db(transaction=True)
def test_migration_0012_drops_the_audit_trails_foreign_key_and_reverses_to_it():
    executor = MigrationExecutor(connection)
    executor.migrate([("requests_app", "0011_search_text_table")])
    assert foreign_keys(AccessEvent._meta.db_table) == {("Request_Id",): ("UserAccessRequest", "Request_Id")}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert foreign_keys(AccessEvent._meta.db_table) == {}


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
