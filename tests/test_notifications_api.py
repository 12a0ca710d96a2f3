"""The notification job's JSON API: send-expiry-notifications and pending-notifications."""

import pytest
from django.core import mail
from django.urls import reverse

from accessmgr.db import db_now
from jobs.models import NotificationJobRun
from requests_app.models import ExpiryNotification
from tests.factories import expiry_in, lock_held, request_make, requests_make

SEND = reverse("jobs:api_send_expiry_notifications")
PENDING = reverse("jobs:api_pending_notifications")


@pytest.mark.django_db(transaction=True)
def test_send_returns_the_seeds_result_shape(operator_client):
    req = request_make(expires_on=expiry_in(5, db_now()), reminders=1)

    response = operator_client.post(SEND)

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"message", "jobId", "notifiedCount", "failedCount", "notifications", "failures"}
    assert set(body["performance"]) == {"parallelSeconds", "estimatedSequentialSeconds", "speedup", "workers"}
    (sent,) = body["notifications"]
    assert (sent["requestId"], sent["email"], sent["type"], sent["daysLeft"]) == (
        req.request_id,
        req.requestor_email,
        "7-Day Reminder",
        5,
    )
    assert sent["sentAt"]
    assert NotificationJobRun.objects.get(job_id=body["jobId"]).triggered_by == "olivia"


@pytest.mark.django_db(transaction=True)
def test_fail_email_fails_those_addresses_deterministically(operator_client):
    now = db_now()
    request_make(expires_on=expiry_in(3, now), requestor_email="alice@test.com")
    request_make(expires_on=expiry_in(4, now), requestor_email="bob@test.com")
    kept = request_make(expires_on=expiry_in(5, now), requestor_email="carol@test.com")

    body = operator_client.post(f"{SEND}?failEmail=alice@test.com&failEmail=bob@test.com").json()

    assert sorted(f["email"] for f in body["failures"]) == ["alice@test.com", "bob@test.com"]
    assert [n["requestId"] for n in body["notifications"]] == [kept.request_id]
    assert body["failedCount"] == 2 and body["notifiedCount"] == 1
    assert list(ExpiryNotification.objects.values_list("sent_to", flat=True)) == ["carol@test.com"]


@pytest.mark.django_db(transaction=True)
def test_simulate_failures_true_is_accepted_in_test_mode(operator_client):
    requests_make(40, expires_on=expiry_in(10, db_now()))
    body = operator_client.post(f"{SEND}?simulateFailures=true").json()
    assert body["notifiedCount"] + body["failedCount"] == 40 and body["failedCount"] > 0


@pytest.mark.parametrize("query", ["simulateFailures=true", "failEmail=a@example.com"])
@pytest.mark.django_db(transaction=True)
def test_test_parameters_are_refused_with_400_when_test_mode_is_off(operator_client, settings, query):
    settings.TEST_MODE = False
    request_make(expires_on=expiry_in(10, db_now()))
    response = operator_client.post(f"{SEND}?{query}")
    assert response.status_code == 400
    assert "TEST_MODE" in response.json()["message"]
    assert not NotificationJobRun.objects.exists() and not mail.outbox


@pytest.mark.parametrize(
    "query,expected",
    [("failEmail=not-an-email", "email address"), ("simulateFailures=maybe", "true or false")],
)
@pytest.mark.django_db(transaction=True)
def test_malformed_test_parameters_get_400(operator_client, query, expected):
    response = operator_client.post(f"{SEND}?{query}")
    assert response.status_code == 400 and expected in response.json()["message"]
    assert not NotificationJobRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_second_run_gets_409_with_the_active_job(operator_client):
    request_make(expires_on=expiry_in(10, db_now()))
    with lock_held(NotificationJobRun) as held:
        response = operator_client.post(SEND)
    assert response.status_code == 409
    body = response.json()
    assert body["activeJob"]["jobId"] == held.job_id
    assert {"startedAt", "startedBy"} <= set(body["activeJob"])
    assert "already running" in body["message"]
    assert not mail.outbox


@pytest.mark.django_db
def test_send_needs_the_permission(user_client):
    response = user_client.post(SEND)
    assert response.status_code == 403 and "permission" in response.json()["message"]
    assert not NotificationJobRun.objects.exists()


@pytest.mark.django_db
def test_send_is_post_only(operator_client):
    response = operator_client.get(SEND)
    assert response.status_code == 405 and response["Allow"] == "POST"


@pytest.mark.django_db
def test_anonymous_calls_get_401(client):
    assert client.post(SEND).status_code == 401
    assert client.get(PENDING).status_code == 401


@pytest.mark.django_db
def test_pending_lists_each_request_with_days_left_count_and_due_reminder(user_client):
    now = db_now()
    soon = request_make(expires_on=expiry_in(1, now))
    later = request_make(expires_on=expiry_in(29, now))
    week = request_make(expires_on=expiry_in(5, now), reminders=1)
    request_make(expires_on=expiry_in(20, now), reminders=1)  # not due
    request_make(expires_on=expiry_in(40, now))  # too far away

    response = user_client.get(PENDING)

    assert response.status_code == 200
    rows = response.json()
    assert [(r["requestId"], r["daysLeft"], r["notificationCount"], r["notificationType"]) for r in rows] == [
        (soon.request_id, 1, 0, "30-Day Reminder"),
        (week.request_id, 5, 1, "7-Day Reminder"),
        (later.request_id, 29, 0, "30-Day Reminder"),
    ]
    assert set(rows[0]) >= {"requestorName", "requestorEmail", "resourceName", "expiresOn"}


@pytest.mark.django_db
def test_pending_is_get_only(user_client):
    assert user_client.post(PENDING).status_code == 405


@pytest.mark.django_db
def test_pending_comes_in_pages_with_the_lists_headers(user_client):
    now = db_now()
    due = [request_make(expires_on=expiry_in(days, now)) for days in (1, 2, 3)]

    first = user_client.get(PENDING, {"pageSize": 2})
    assert [r["requestId"] for r in first.json()] == [r.request_id for r in due[:2]]
    assert (first["X-Total-Count"], first["X-Page"], first["X-Page-Size"], first["X-Total-Pages"]) == (
        "3",
        "1",
        "2",
        "2",
    )
    assert first["Link"] == f'<{PENDING}?pageSize=2&page=2>; rel="next"'

    second = user_client.get(PENDING, {"pageSize": 2, "page": 2})
    assert [r["requestId"] for r in second.json()] == [due[2].request_id]
    assert second["Link"] == f'<{PENDING}?pageSize=2&page=1>; rel="prev"'
    past_the_end = user_client.get(PENDING, {"page": 9})
    assert past_the_end.json() == [] and past_the_end["X-Total-Count"] == "3"


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"page": "0"}, {"pageSize": "501"}, {"pageSize": "x"}])
def test_pending_bad_page_parameters_get_400_naming_them(user_client, query):
    response = user_client.get(PENDING, query)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(query)


@pytest.mark.django_db
def test_pending_needs_the_permission_to_view_all_requests(requester_client):
    request_make(expires_on=expiry_in(1, db_now()))
    response = requester_client.get(PENDING)
    assert response.status_code == 403
    assert response.json() == {"message": "You do not have permission to view every request."}
