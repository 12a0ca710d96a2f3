"""GET /api/access-requests/revoke-job-status and .../notification-job-status: the lock's
state as the seed's JSON, {isLocked, activeJob}."""

import pytest
from django.urls import reverse

from jobs.lock import lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from tests.factories import lock_stop_beating

URLS = {
    "revoke": ("jobs:api_revoke_job_status", RevokeExpiredJobRun),
    "notifications": ("jobs:api_notification_job_status", NotificationJobRun),
}


@pytest.mark.parametrize("job", URLS)
def test_status_when_no_run_is_going(user_client, job):
    response = user_client.get(reverse(URLS[job][0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"isLocked": False, "activeJob": None}


@pytest.mark.parametrize("job", URLS)
def test_status_while_a_run_holds_the_lock(user_client, job):
    name, model = URLS[job]
    lock = lock_acquire(job=model, triggered_by="olivia", started_by="web-1:4242")
    lock.progress(processed=3, total=9)
    body = user_client.get(reverse(name)).json()
    assert body["isLocked"] is True
    active = body["activeJob"]
    assert (active["jobId"], active["startedBy"], active["triggeredBy"]) == (
        lock.job_id,
        "web-1:4242",
        "olivia",
    )
    assert (active["processed"], active["total"]) == (3, 9)
    run = model.objects.get(job_id=lock.job_id)
    assert active["startedAt"] == run.started_at.isoformat()
    assert active["heartbeatAt"] == run.heartbeat_at.isoformat()
    lock.release(status="Completed")


def test_the_two_statuses_are_independent(user_client):
    lock = lock_acquire(job=NotificationJobRun, triggered_by="olivia")
    assert user_client.get(reverse("jobs:api_notification_job_status")).json()["isLocked"] is True
    assert user_client.get(reverse("jobs:api_revoke_job_status")).json()["isLocked"] is False
    lock.release(status="Completed")


def test_a_run_that_stopped_beating_is_not_reported_as_locked(user_client, settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="cron")
    lock_stop_beating(lock, seconds_ago=5 * 60)
    assert user_client.get(reverse("jobs:api_revoke_job_status")).json() == {
        "isLocked": False,
        "activeJob": None,
    }


@pytest.mark.parametrize("job", URLS)
def test_anonymous_gets_401_json(client, db, job):
    response = client.get(reverse(URLS[job][0]))
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication required."}


@pytest.mark.parametrize("job", URLS)
def test_status_is_read_only(user_client, job):
    response = user_client.post(reverse(URLS[job][0]))
    assert response.status_code == 405
    assert "message" in response.json()
    assert not URLS[job][1].objects.exists()
