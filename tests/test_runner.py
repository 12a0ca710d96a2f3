"""The one job runner (jobs.runner.job_run): every job's lock, release, error contract, and a
start that an interrupt cannot leave InProgress."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

import jobs.lock
import jobs.revoke
from jobs.lock import LockHeld, lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.runner import JobFailed, job_run
from jobs.signals import sigterm_as_interrupt
from jobs.status import live_run
from tests.factories import lock_stop_beating

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_is_released_completed_with_the_counts_its_work_kept():
    def work(lock):
        assert live_run(job=RevokeExpiredJobRun).job_id == lock.job_id
        lock.counts.update(revoked_count=4, total_count=4)
        return "done"

    assert job_run(job=RevokeExpiredJobRun, triggered_by="run_revoke", work=work) == "done"
    run = RevokeExpiredJobRun.objects.get()
    assert (run.status, run.revoked_count, run.total_count, run.triggered_by) == (
        "Completed",
        4,
        4,
        "run_revoke",
    )


def test_a_crash_is_released_failed_with_its_error_and_its_counts_so_far():
    def work(lock):
        lock.counts["success_count"] = 3
        raise RuntimeError("SMTP server refused the connection")

    with pytest.raises(JobFailed) as failed:
        job_run(job=NotificationJobRun, triggered_by="alice", work=work)
    run = NotificationJobRun.objects.get()
    assert failed.value.job_id == run.job_id
    assert failed.value.error == "RuntimeError: SMTP server refused the connection" == run.error_message
    assert (
        str(failed.value) == "The notification job failed: RuntimeError: SMTP server refused the connection"
    )
    assert (run.status, run.success_count, failed.value.counts) == ("Failed", 3, {"success_count": 3})
    assert live_run(job=NotificationJobRun) is None


def test_a_lost_lock_is_the_same_job_failed_and_the_runs_own_row_says_failed(settings):
    def work(lock):
        lock.counts["revoked_count"] = 2
        lock_stop_beating(lock, seconds_ago=settings.JOB_STALE_AFTER_SECONDS + 1)
        taker = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")  # takes the stale run over
        work.taker = taker
        lock.fence()

    with pytest.raises(JobFailed) as failed:
        job_run(job=RevokeExpiredJobRun, triggered_by="alice", work=work)
    run = RevokeExpiredJobRun.objects.get(job_id=failed.value.job_id)
    assert run.status == "Failed" and run.revoked_count == 2
    assert run.error_message.startswith(failed.value.error) and "lost its lock" in failed.value.error
    assert "taken over by run" in run.error_message
    taker = RevokeExpiredJobRun.objects.get(job_id=work.taker.job_id)
    assert taker.status == "InProgress"  # the taker's row is left alone
    work.taker.release(status="Completed", revoked_count=0)


def test_a_refused_start_runs_nothing_and_records_a_refused_row_unless_told_not_to():
    held = lock_acquire(job=NotificationJobRun, triggered_by="alice")
    ran = []
    with pytest.raises(LockHeld) as refused:
        job_run(job=NotificationJobRun, triggered_by="bob", work=ran.append)
    assert refused.value.holder.job_id == held.job_id
    assert NotificationJobRun.objects.get(status="Refused").triggered_by == "bob"
    with pytest.raises(LockHeld):
        job_run(job=NotificationJobRun, triggered_by="scheduler", work=ran.append, record_refusal=False)
    assert ran == [] and NotificationJobRun.objects.filter(status="Refused").count() == 1
    held.release(status="Completed")


def _sigterm_after(monkeypatch, owner, name: str):
    """Send this process SIGTERM right after `owner.name` (something a start calls) returns."""
    original = getattr(owner, name)

    def then_sigterm(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the signal is handled here, mid-start
        return result

    monkeypatch.setattr(owner, name, then_sigterm)


@pytest.mark.parametrize(
    "owner,name",
    [
        (jobs.lock, "_try_insert"),  # the InProgress row has just committed
        (jobs.lock, "status_changed"),
        (jobs.lock.JobLock, "log"),  # the "started" log line
        (jobs.lock.JobLock, "start_heartbeat"),  # inside the run
    ],
)
def test_sigterm_at_any_point_of_a_start_leaves_the_row_failed_never_in_progress(monkeypatch, owner, name):
    _sigterm_after(monkeypatch, owner, name)
    ran = []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), sigterm_as_interrupt():
        job_run(job=RevokeExpiredJobRun, triggered_by="run_revoke", work=ran.append)
    run = RevokeExpiredJobRun.objects.get()
    assert (run.status, run.error_message) == ("Failed", "Interrupted (SIGTERM)")
    assert ran == []


def test_the_command_says_what_happened_to_the_row_when_interrupted_at_start(monkeypatch, capsys):
    _sigterm_after(monkeypatch, jobs.lock, "_try_insert")
    with pytest.raises(SystemExit) as exited:
        call_command("run_revoke")
    assert exited.value.code == 1
    assert "released as Failed" in capsys.readouterr().err
    assert RevokeExpiredJobRun.objects.get().status == "Failed"


def _crash(monkeypatch):
    def disk_on_fire(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", disk_on_fire)
    return "RuntimeError: disk on fire"


def _lose_the_lock(monkeypatch):
    real_chunks = jobs.revoke._chunks

    def taken_over(ids, size):  # another server judged the run stale and took the lock over
        RevokeExpiredJobRun.objects.filter(status="InProgress").update(status="Abandoned")
        yield from real_chunks(ids, size)

    monkeypatch.setattr(jobs.revoke, "_chunks", taken_over)
    return "lost its lock"


def _from_the_page(client):
    response = client.post(reverse("jobs:revoke_run"), headers={"HX-Request": "true"})
    assert response.status_code == 500
    return response.content.decode()


def _from_the_api(client):
    response = client.post(reverse("jobs:api_revoke_expired"))
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"message", "jobId", "revokedCount"}
    return f"{body['message']} (job {body['jobId']})"


@pytest.mark.parametrize("fault", [_crash, _lose_the_lock], ids=["crash", "lost lock"])
@pytest.mark.parametrize("surface", ["page", "api", "command"])
def test_a_crash_and_a_lost_lock_reach_every_caller_as_the_same_job_failed(
    monkeypatch, operator_client, capsys, fault, surface, make_request
):
    make_request(expires_in=-timedelta(days=1))
    expected = fault(monkeypatch)
    if surface == "page":
        shown = _from_the_page(operator_client)
    elif surface == "api":
        shown = _from_the_api(operator_client)
    else:
        with pytest.raises(SystemExit) as exited:
            call_command("run_revoke")
        assert exited.value.code == 1
        shown = capsys.readouterr().err
    run = RevokeExpiredJobRun.objects.get()
    assert run.status == "Failed" and expected in run.error_message
    assert expected in shown and run.job_id in shown
