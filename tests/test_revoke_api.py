"""POST /api/access-requests/revoke-expired (jobs.api.revoke_expired)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

import jobs.revoke
from jobs.models import RevokeExpiredJobRun
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.factories import lock_held, requests_make

pytestmark = pytest.mark.django_db(transaction=True)

URL = reverse("jobs:api_revoke_expired")


def test_post_revokes_and_answers_the_result(operator_client):
    expired = requests_make(2, expires_in=-timedelta(days=1))
    response = operator_client.post(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "revokedCount", "revokedAt", "jobId"}
    assert body["revokedCount"] == 2
    assert body["message"] == "Revoked 2 expired access requests."
    recorded = RevokedAccess.objects.filter(job_id=body["jobId"])
    assert {r.request_id for r in recorded} == {r.request_id for r in expired}


def test_post_with_nothing_expired_answers_the_no_op_message(operator_client):
    body = operator_client.post(URL).json()
    assert body["message"] == "No expired requests found to revoke."
    assert body["revokedCount"] == 0


def test_second_run_gets_409_with_the_active_job(operator_client):
    requests_make(1, expires_in=-timedelta(days=1))
    with lock_held(RevokeExpiredJobRun, triggered_by="bob", started_by="server-b:77") as holder:
        response = operator_client.post(URL)

    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"message", "activeJob"}
    assert body["activeJob"]["jobId"] == holder.job_id
    assert body["activeJob"]["startedBy"] == "server-b:77"
    assert body["activeJob"]["startedAt"]
    assert "server-b:77" in body["message"]
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


def test_without_the_permission_is_403_json_and_changes_nothing(user_client):
    requests_make(1, expires_in=-timedelta(days=1))
    response = user_client.post(URL)

    assert response.status_code == 403
    assert response.json() == {"message": "You do not have permission to run the revoke job."}
    assert not RevokeExpiredJobRun.objects.exists()


def test_anonymous_gets_401_json(client):
    response = client.post(URL)
    assert response.status_code == 401
    assert "message" in response.json()


def test_get_is_405_json(operator_client):
    response = operator_client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert not RevokeExpiredJobRun.objects.exists()


def test_failed_run_is_500_json_with_the_job_and_changes_nothing(operator_client, monkeypatch):
    requests_make(2, expires_in=-timedelta(days=1))

    def insert_fails(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", insert_fails)
    response = operator_client.post(URL)

    assert response.status_code == 500
    body = response.json()
    assert "disk on fire" in body["message"]
    assert body["revokedCount"] == 0
    assert RevokeExpiredJobRun.objects.get(job_id=body["jobId"]).status == "Failed"
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


def test_post_without_csrf_token_is_refused(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    requests_make(1, expires_in=-timedelta(days=1))

    assert client.post(URL).status_code == 403
    assert not RevokeExpiredJobRun.objects.exists()
