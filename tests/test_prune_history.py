"""`manage.py prune_history` and jobs.retention: old job history goes; InProgress runs,
requests, revocations and reminders stay."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from accessmgr.db import db_now
from jobs.models import JobRun, NotificationJobRun, RevokeExpiredJobRun, ScheduledTick
from jobs.notifications import notifications_send
from jobs.revoke import revoke_expired_run
from requests_app.models import ExpiryNotification, RevokedAccess, UserAccessRequest
from tests.factories import lock_held

pytestmark = pytest.mark.django_db(transaction=True)
Status = JobRun.Status


def age(model, days: int) -> None:
    model.objects.update(started_at=db_now() - timedelta(days=days))


def test_prune_deletes_old_runs_refusals_and_ticks_and_keeps_the_rest(make_request, capsys):
    make_request(expires_in=-timedelta(days=1))  # revoked by the old run
    make_request(expires_in=timedelta(days=5))  # reminded by the old run
    revoke_expired_run(triggered_by="old")
    notifications_send(triggered_by="old")
    with lock_held(RevokeExpiredJobRun, triggered_by="long-running") as held:
        with pytest.raises(Exception, match="already running"):
            revoke_expired_run(triggered_by="refused")
        age(RevokeExpiredJobRun, 100)  # the InProgress run too: it must stay
        age(NotificationJobRun, 100)
        ScheduledTick.objects.create(
            job="revoke",
            tick_at=db_now() - timedelta(days=100),
            claimed_by="s:1",
            claimed_at=db_now(),
            outcome="Completed",
        )
        recent = ScheduledTick.objects.create(
            job="revoke", tick_at=db_now(), claimed_by="s:1", claimed_at=db_now(), outcome="Completed"
        )

        call_command("prune_history", "--older-than", "90d")

    assert (
        "revoke: 2, notifications: 1, deliveries: 0, ticks: 1" in capsys.readouterr().out
    )  # the run and the refusal
    assert list(RevokeExpiredJobRun.objects.values_list("job_id", flat=True)) == [held.job_id]
    assert not NotificationJobRun.objects.exists()
    assert list(ScheduledTick.objects.all()) == [recent]
    assert RevokedAccess.objects.count() == 1
    assert ExpiryNotification.objects.count() == 2  # the reminder and the access-ended notice, kept
    assert UserAccessRequest.objects.count() == 2


def test_prune_keeps_runs_younger_than_the_age(capsys):
    revoke_expired_run(triggered_by="recent")
    age(RevokeExpiredJobRun, 10)
    call_command("prune_history", "--older-than", "90d")
    assert RevokeExpiredJobRun.objects.count() == 1
    call_command("prune_history", "--older-than", "9d")
    assert RevokeExpiredJobRun.objects.count() == 0


@pytest.mark.parametrize("bad", ["90", "ninety days", "0d", "-5d", "1w"])
def test_a_bad_age_is_refused_and_deletes_nothing(bad, capsys):
    revoke_expired_run(triggered_by="old")
    age(RevokeExpiredJobRun, 1000)
    with pytest.raises(SystemExit) as exited:
        call_command("prune_history", f"--older-than={bad}")
    assert exited.value.code == 2
    assert "--older-than must be a positive age" in capsys.readouterr().err
    assert RevokeExpiredJobRun.objects.count() == 1


def test_the_scheduler_prunes_with_the_retention_setting(settings):
    from jobs.scheduler import scheduled_jobs

    settings.REVOKE_SCHEDULE = settings.NOTIFY_SCHEDULE = ""
    settings.HISTORY_RETENTION_DAYS = 30
    revoke_expired_run(triggered_by="old")
    age(RevokeExpiredJobRun, 31)
    (prune,) = scheduled_jobs()
    assert prune.name == "prune"
    prune.run()
    assert not RevokeExpiredJobRun.objects.exists()
