"""The JSON API's shapes, pinned: every endpoint's keys, nesting and value types, as the seed's
clients read them. A change here breaks a client of the original system."""

from datetime import timedelta

import pytest
from django.urls import reverse

from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from tests.factories import lock_held

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST = {
    "id": "int",
    "requestId": "str",
    "requestorName": "str",
    "requestorEmail": "str",
    "resourceName": "str",
    "justification": "str",
    "status": "str",
    "createdAt": "str",
    "expiresOn": "str",
    "revokedDt": "str|null",
    "revokedBy": "str|null",
}
ACTIVE_JOB = {
    "jobId": "str",
    "startedAt": "str",
    "startedBy": "str",
    "triggeredBy": "str",
    "heartbeatAt": "str",
    "processed": "int|null",
    "total": "int|null",
}


def shape(value):
    """The shape of a JSON value: dicts by key, lists by their items' shapes, else the type."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = []
        for item in value:
            if shape(item) not in shapes:
                shapes.append(shape(item))
        return shapes
    return "null" if value is None else type(value).__name__


def matches(actual, expected) -> bool:
    """`actual` (a shape) fits `expected`, where "a|b" allows either type."""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(matches(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(matches(a, e) for e in expected) for a in actual)
    return isinstance(actual, str) and actual in expected.split("|")


@pytest.fixture
def some_requests(make_request):
    make_request(expires_in=-timedelta(days=1))  # expired, still Active
    make_request(expires_in=timedelta(days=5))  # due a 30-Day Reminder
    make_request(expires_in=timedelta(days=90))


def test_request_lists_and_create(operator_client, some_requests):
    listed = operator_client.get(reverse("requests_app:api_access_requests")).json()
    assert len(listed) == 3 and matches(shape(listed), [REQUEST])
    expired = operator_client.get(reverse("requests_app:api_pending_expiry")).json()
    assert len(expired) == 1 and matches(shape(expired), [REQUEST])
    body = {
        "requestorName": "Ada",
        "requestorEmail": "ada@example.com",
        "resourceName": "DB",
        "duration": "5",
    }
    created = operator_client.post(
        reverse("requests_app:api_access_requests"), body, content_type="application/json"
    )
    assert created.status_code == 201 and matches(shape(created.json()), REQUEST)
    bad = operator_client.post(
        reverse("requests_app:api_access_requests"), {}, content_type="application/json"
    )
    assert bad.status_code == 400 and matches(
        shape(bad.json()), {"message": "str", "errors": {k: ["str"] for k in bad.json()["errors"]}}
    )


def test_pending_notifications(operator_client, some_requests):
    pending = operator_client.get(reverse("jobs:api_pending_notifications")).json()
    assert len(pending) == 1
    assert matches(
        shape(pending),
        [
            {
                "requestId": "str",
                "requestorName": "str",
                "requestorEmail": "str",
                "resourceName": "str",
                "expiresOn": "str",
                "daysLeft": "int",
                "notificationCount": "int",
                "notificationType": "str",
            }
        ],
    )


@pytest.mark.parametrize("status_url", ["jobs:api_revoke_job_status", "jobs:api_notification_job_status"])
def test_job_status_idle_and_locked(operator_client, status_url):
    assert operator_client.get(reverse(status_url)).json() == {"isLocked": False, "activeJob": None}
    job = RevokeExpiredJobRun if "revoke" in status_url else NotificationJobRun
    with lock_held(job, triggered_by="bob"):
        body = operator_client.get(reverse(status_url)).json()
        assert matches(shape(body), {"isLocked": "bool", "activeJob": ACTIVE_JOB})


def test_revoke_run_done_and_refused(operator_client, some_requests):
    done = operator_client.post(reverse("jobs:api_revoke_expired")).json()
    assert matches(
        shape(done), {"message": "str", "revokedCount": "int", "revokedAt": "str|null", "jobId": "str"}
    )
    with lock_held(RevokeExpiredJobRun, triggered_by="bob"):
        refused = operator_client.post(reverse("jobs:api_revoke_expired"))
        assert refused.status_code == 409
        assert matches(shape(refused.json()), {"message": "str", "activeJob": ACTIVE_JOB})


def test_notification_run_done(operator_client, some_requests, make_request):
    make_request(expires_in=timedelta(days=6), requestor_email="fail@example.com")
    url = reverse("jobs:api_send_expiry_notifications") + "?failEmail=fail@example.com"
    done = operator_client.post(url).json()
    assert done["notifiedCount"] == 1 and done["failedCount"] == 1
    assert matches(
        shape(done),
        {
            "message": "str",
            "jobId": "str",
            "notifiedCount": "int",
            "failedCount": "int",
            "skippedCount": "int",
            "notifications": [
                {"requestId": "str", "email": "str", "type": "str", "daysLeft": "int", "sentAt": "str"}
            ],
            "failures": [{"requestId": "str", "email": "str", "error": "str"}],
            "unrecordedCount": "int",  # sent, record not written: held in doubt
            "unrecorded": [{"requestId": "str", "email": "str", "error": "str"}],
            "performance": {
                "parallelSeconds": "float|int",
                "estimatedSequentialSeconds": "float|int",
                "speedup": "float|null",
                "workers": "int",
            },
        },
    )
