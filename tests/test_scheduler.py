"""jobs.scheduler in one process, at chosen times: a tick runs once whoever asks, missed
ticks run once, a held lock is a Refused tick, a failure a Failed one. The same with real
processes and real time: tests/test_run_scheduler.py."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings

import jobs.revoke
from jobs.models import DeliverEventsJobRun, JobRun, RevokeExpiredJobRun, ScheduledTick
from jobs.revoke import revoke_expired_run
from jobs.schedule import schedule_parse
from jobs.scheduler import TRIGGERED_BY, ScheduledJob, scheduled_jobs, scheduled_run
from requests_app.services import access_request_create
from tests.factories import lock_held
from tests.webhook_receiver import Receiver
from webhooks.models import CREATED
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 12, 2, 6, 0, 0, tzinfo=UTC)
EVERY = timedelta(seconds=5)
Outcome = ScheduledTick.Outcome


@pytest.fixture
def revoke_job() -> ScheduledJob:
    return ScheduledJob(
        name="revoke",
        schedule=schedule_parse("@every 5s"),
        run=lambda: revoke_expired_run(triggered_by=TRIGGERED_BY),
    )


def test_a_tick_runs_once_however_often_it_is_asked_for(revoke_job):
    assert scheduled_run(revoke_job, now=T0 + timedelta(seconds=1)) == Outcome.COMPLETED
    assert scheduled_run(revoke_job, now=T0 + timedelta(seconds=2)) is None  # another server's ask
    assert RevokeExpiredJobRun.objects.count() == 1
    tick = ScheduledTick.objects.get()
    assert (tick.job, tick.tick_at, tick.outcome) == ("revoke", T0, Outcome.COMPLETED)
    assert tick.finished_at is not None


def test_after_three_missed_ticks_the_job_runs_once(revoke_job):
    scheduled_run(revoke_job, now=T0)
    back = T0 + 3 * EVERY + timedelta(seconds=2)  # ticks T0+5s, +10s, +15s passed meanwhile
    assert scheduled_run(revoke_job, now=back) == Outcome.COMPLETED
    assert list(ScheduledTick.objects.order_by("tick_at").values_list("tick_at", flat=True)) == [
        T0,
        T0 + 3 * EVERY,
    ]
    assert RevokeExpiredJobRun.objects.filter(status=JobRun.Status.COMPLETED).count() == 2


def test_a_tick_that_finds_the_lock_held_is_refused_not_failed(revoke_job):
    with lock_held(RevokeExpiredJobRun, triggered_by="alice", started_by="server-a:1"):
        assert scheduled_run(revoke_job, now=T0) == Outcome.REFUSED
        assert scheduled_run(revoke_job, now=T0 + timedelta(seconds=1)) is None  # a second server
    tick = ScheduledTick.objects.get()
    assert "already running" in tick.error_message
    # One Refused row for the tick, however many schedulers asked.
    assert RevokeExpiredJobRun.objects.filter(status=JobRun.Status.REFUSED).count() == 1


def test_a_failed_run_is_a_failed_tick_and_the_next_tick_runs(revoke_job, make_request, monkeypatch):
    make_request(expires_in=-timedelta(days=1))

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", broken)
    assert scheduled_run(revoke_job, now=T0) == Outcome.FAILED
    assert "disk full" in ScheduledTick.objects.get().error_message
    monkeypatch.undo()
    assert scheduled_run(revoke_job, now=T0 + EVERY) == Outcome.COMPLETED


def test_the_jobs_with_a_schedule_come_from_settings(settings):
    settings.REVOKE_SCHEDULE, settings.NOTIFY_SCHEDULE, settings.DELIVER_SCHEDULE = "*/15 * * * *", "", ""
    settings.HISTORY_RETENTION_DAYS = 90
    assert [job.name for job in scheduled_jobs()] == ["revoke", "prune"]
    settings.NOTIFY_SCHEDULE, settings.HISTORY_RETENTION_DAYS = "0 9 * * *", 0
    assert [job.name for job in scheduled_jobs()] == ["revoke", "notifications"]
    settings.DELIVER_SCHEDULE = "@every 1m"
    assert [job.name for job in scheduled_jobs()] == ["revoke", "notifications", "deliveries"]


def test_run_scheduler_with_nothing_scheduled_exits_2(settings, capsys):
    settings.REVOKE_SCHEDULE = settings.NOTIFY_SCHEDULE = settings.DELIVER_SCHEDULE = ""
    settings.HISTORY_RETENTION_DAYS = 0
    with pytest.raises(SystemExit) as exited:
        call_command("run_scheduler")
    assert exited.value.code == 2
    assert "Nothing to schedule" in capsys.readouterr().err


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True)
def test_a_delivery_tick_delivers_the_outbox(settings):
    settings.DELIVER_SCHEDULE = "@every 5s"
    (deliveries,) = [job for job in scheduled_jobs() if job.name == "deliveries"]
    with Receiver() as receiver:
        endpoint_create(url=receiver.url, event_types=[CREATED])
        request = access_request_create(  # and its access_request.created event, in the outbox
            requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
        )

        assert scheduled_run(deliveries, now=T0) == Outcome.COMPLETED

    assert [json.loads(r.body)["data"]["requestId"] for r in receiver.received] == [request.request_id]
    run = DeliverEventsJobRun.objects.get()
    assert (run.triggered_by, run.success_count) == (TRIGGERED_BY, 1)
