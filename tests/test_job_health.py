"""The jobs' dead-man check: /healthz?jobs=1 and `manage.py check_jobs`."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from accessmgr.db import db_now
from jobs.models import RevokeExpiredJobRun
from jobs.revoke import revoke_expired_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoke_scheduled(settings):
    """Revoke every minute: its last success may be 3 minutes old (2 periods + 1 minute)."""
    settings.REVOKE_SCHEDULE, settings.NOTIFY_SCHEDULE = "@every 1m", ""
    settings.REVOKE_MAX_AGE_SECONDS = settings.NOTIFY_MAX_AGE_SECONDS = 0


def test_healthz_jobs_fails_naming_revoke_until_it_has_succeeded(client, revoke_scheduled):
    response = client.get("/healthz?jobs=1")
    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    assert [failing["job"] for failing in response.json()["jobs"]] == ["revoke"]
    assert "never succeeded" in response.json()["jobs"][0]["reason"]

    revoke_expired_run(triggered_by="test")
    response = client.get("/healthz?jobs=1")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_last_success_older_than_allowed_fails(client, revoke_scheduled):
    revoke_expired_run(triggered_by="test")
    RevokeExpiredJobRun.objects.update(completed_at=db_now() - timedelta(minutes=4))
    response = client.get("/healthz?jobs=1")
    assert response.status_code == 503
    assert "revoke last succeeded at" in response.json()["jobs"][0]["reason"]


def test_the_max_age_setting_wins_over_the_schedule(client, settings, revoke_scheduled):
    revoke_expired_run(triggered_by="test")
    RevokeExpiredJobRun.objects.update(completed_at=db_now() - timedelta(minutes=4))
    settings.REVOKE_MAX_AGE_SECONDS = 3600
    assert client.get("/healthz?jobs=1").status_code == 200


def test_expired_requests_still_active_for_too_long_fail_revoke(client, revoke_scheduled, make_request):
    revoke_expired_run(triggered_by="test")  # a recent success…
    make_request(expires_in=-timedelta(minutes=10))  # …but this expired 10 minutes ago
    response = client.get("/healthz?jobs=1")
    assert response.status_code == 503
    assert response.json()["jobs"] == [
        {"job": "revoke", "reason": "expired requests are still Active after more than 0:03:00"}
    ]


def test_an_unscheduled_job_is_not_checked_and_plain_healthz_ignores_jobs(client, settings):
    settings.REVOKE_SCHEDULE = settings.NOTIFY_SCHEDULE = ""
    settings.REVOKE_MAX_AGE_SECONDS = settings.NOTIFY_MAX_AGE_SECONDS = 0
    assert client.get("/healthz?jobs=1").status_code == 200
    settings.NOTIFY_MAX_AGE_SECONDS = 60  # no schedule, but an allowed age: checked
    assert client.get("/healthz?jobs=1").json()["jobs"][0]["job"] == "notifications"
    assert client.get("/healthz").status_code == 200


def test_check_jobs_exits_1_with_the_reason_then_0(revoke_scheduled, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("check_jobs")
    assert exited.value.code == 1
    assert "revoke has never succeeded" in capsys.readouterr().err
    revoke_expired_run(triggered_by="test")
    call_command("check_jobs")
    assert "succeeded recently enough" in capsys.readouterr().out
