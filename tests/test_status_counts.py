"""RequestStatusCount, kept by triggers on UserAccessRequest (migration 0009): after every
kind of write the app and others make, its rows equal a GROUP BY Status over the requests,
and All Requests' unfiltered counts are read from it."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accessmgr.db import db_now
from jobs.dialects import dialect_for
from jobs.revoke import revoke_expired_run
from requests_app import selectors
from requests_app.models import RequestStatusCount, UserAccessRequest
from requests_app.services import access_request_create, access_request_revoke
from tests.factories import request_make

API_LIST = reverse("requests_app:api_access_requests")


def table_counts() -> dict[str, int]:
    """RequestStatusCount's rows, without the statuses at 0 (a row of 0 and no row mean the same)."""
    return {status: n for status, n in RequestStatusCount.objects.values_list("status", "n") if n}


def grouped() -> dict[str, int]:
    return dict(UserAccessRequest.objects.values_list("status").annotate(n=Count("id")).order_by())


def assert_counts_match(expected: dict[str, int]) -> None:
    assert grouped() == expected
    assert table_counts() == expected


def expired(count: int) -> list[UserAccessRequest]:
    return [request_make(expires_in=-timedelta(hours=1)) for _ in range(count)]


def create(n: int = 0) -> UserAccessRequest:
    return access_request_create(
        requestor_name=f"Dana {n}",
        requestor_email=f"dana{n}@example.com",
        resource_name="VPN",
        duration="30",
    )


@pytest.mark.django_db
def test_creates_by_the_service_and_the_api_are_counted(user_client):
    create()
    body = {
        "requestorName": "Carol",
        "requestorEmail": "carol@example.com",
        "resourceName": "AWS",
        "duration": "29",
    }
    assert user_client.post(API_LIST, body, content_type="application/json").status_code == 201
    assert_counts_match({"Active": 2})


@pytest.mark.django_db
def test_the_revoke_job_in_several_chunks_moves_its_requests_to_revoked(settings):
    settings.REVOKE_CHUNK_SIZE = 7
    expired(30)
    request_make()
    assert revoke_expired_run(triggered_by="test").revoked_count == 30
    assert_counts_match({"Active": 1, "Revoked": 30})


@pytest.mark.django_db
def test_revoke_now_and_the_admin_revoke_action_are_counted(client):
    by_hand, by_admin, left = request_make(), request_make(), request_make()
    access_request_revoke(request_id=by_hand.request_id, reason="Left the team", revoked_by="alice")
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    changelist = reverse("admin:requests_app_useraccessrequest_changelist")
    form = {"action": "revoke_selected", "_selected_action": [by_admin.pk], "apply": "1", "reason": "Audit"}
    assert client.post(changelist, form, follow=True).status_code == 200
    assert_counts_match({"Active": 1, "Revoked": 2})
    left.refresh_from_db()
    assert left.status == "Active"


@pytest.mark.django_db
def test_deletes_and_bulk_updates_are_counted_and_other_updates_change_nothing():
    rows = [request_make() for _ in range(5)]
    UserAccessRequest.objects.filter(pk__in=[r.pk for r in rows[:3]]).update(status="Revoked")
    assert_counts_match({"Active": 2, "Revoked": 3})
    UserAccessRequest.objects.filter(pk=rows[0].pk).update(status="Active")
    UserAccessRequest.objects.filter(pk=rows[1].pk).update(status="Revoked")  # no change
    UserAccessRequest.objects.update(expires_on=db_now() + timedelta(days=9))  # not the status
    assert_counts_match({"Active": 3, "Revoked": 2})
    UserAccessRequest.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).delete()
    assert_counts_match({"Active": 2, "Revoked": 1})
    UserAccessRequest.objects.all().delete()
    assert_counts_match({})


@pytest.mark.django_db
def test_a_raw_multi_row_insert_and_an_unknown_status_are_counted():
    q, now = connection.ops.quote_name, connection.ops.adapt_datetimefield_value(db_now())
    columns = ("Request_Id", "Requestor_Name", "Requestor_Email", "Resource_Name", "Justification", "Status")
    rows = [(f"RAW-{i}", "Raw", "raw@example.com", "VPN", "", status) for i, status in enumerate("AARX")]
    rows = [(*row[:5], {"A": "Active", "R": "Revoked", "X": "Suspended"}[row[5]]) for row in rows]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q('UserAccessRequest')} ({', '.join(q(c) for c in columns)}, "
            f"{q('Created_At')}, {q('Expires_On')}) VALUES {values}",
            [value for row in rows for value in (*row, now, now)],
        )
    assert_counts_match({"Active": 2, "Revoked": 1, "Suspended": 1})


@pytest.mark.django_db
def test_all_requests_reads_its_unfiltered_counts_from_the_table(user_client):
    for _ in range(3):
        request_make()
    UserAccessRequest.objects.filter(pk=UserAccessRequest.objects.first().pk).update(status="Revoked")
    for params in ({}, {"status": "Revoked"}, {"page": "2"}):
        with CaptureQueriesContext(connection) as ctx:
            response = user_client.get(reverse("requests_app:all_requests"), params)
        assert response.context["page"].counts == {"total": 3, "active": 2, "revoked": 1}
        sql = [q["sql"] for q in ctx.captured_queries]
        assert any("RequestStatusCount" in s for s in sql)
        assert not any("GROUP BY" in s for s in sql)
    assert response.context["page"].paginator.count == 3
    revoked = selectors.access_request_list(filters=selectors.RequestFilters(status="Revoked"), now=db_now())
    assert revoked.paginator.count == 1 and len(revoked.object_list) == 1


@pytest.mark.django_db
def test_a_search_or_a_requester_still_counts_its_own_rows(requester):
    request_make(requestor_email="zoe@corp.example")
    mine = request_make(requester=requester)
    now = db_now()
    searched = selectors.access_request_list(filters=selectors.RequestFilters(search="zoe"), now=now)
    assert searched.counts == {"total": 1, "active": 1, "revoked": 0}
    own = selectors.access_request_mine(requester_id=requester.pk, now=now)
    assert own.counts["total"] == 1 and [r.pk for r in own.object_list] == [mine.pk]


def test_the_triggers_are_one_statement_each_for_every_database():
    dialect = dialect_for()
    statements = dialect.status_counts_install_statements()
    assert all(s.startswith(("CREATE TRIGGER", "CREATE FUNCTION")) for s in statements)
    if connection.vendor == "postgresql":  # per statement, over its transition tables
        triggers = [s for s in statements if s.startswith("CREATE TRIGGER")]
        assert len(triggers) == 4 and all("FOR EACH STATEMENT" in s for s in triggers)
        assert sum("REFERENCING" in s for s in triggers) == 3  # not TRUNCATE's
    assert len(dialect.status_counts_drop_statements()) == len(statements)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_and_a_revoke_run_keep_the_counts_without_deadlock(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent writers): run with DATABASE_URL=postgres://…")
    settings.REVOKE_CHUNK_SIZE = 25
    expired(200)

    def creates(worker: int) -> int:
        try:
            for i in range(15):
                create(worker * 100 + i)
            return 15
        finally:
            connection.close()

    def revokes() -> int:
        try:
            return revoke_expired_run(triggered_by="test").revoked_count
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        revoking = pool.submit(revokes)
        created = [pool.submit(creates, worker) for worker in range(4)]
        assert revoking.result(timeout=120) == 200
        assert sum(f.result(timeout=120) for f in created) == 60
    assert_counts_match({"Active": 60, "Revoked": 200})
