"""The notification job under faults: `manage.py run_notifications` in a child process whose
database traffic goes through a FaultProxy, sending to an SmtpSink. Every reminder must
be delivered once: a stalled run must stop sending before another run takes its lease
over, and a send whose record failed must not be sent again.

Expected to fail until the lease fences itself (issue 13): today a stalled run keeps
sending after the takeover, and a delivered reminder whose INSERT failed is reported
"failed" and sent again by the next run."""

from datetime import timedelta

import pytest

from jobs.models import NotificationJobRun
from requests_app.models import ExpiryNotification
from tests.factories import requests_make
from tests.faults.child import ManageCommand, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xfail(strict=False, reason="needs the lease self-fencing of issue 13"),
]

DUE = 100
JOB_SETTINGS = {
    "NOTIFY_MAX_WORKERS": "8",
    "NOTIFY_SEND_DELAY_SECONDS": "0.02",  # the seed's simulated send time, so a run lasts
    "JOB_HEARTBEAT_SECONDS": "0.2",
    "JOB_STALE_AFTER_SECONDS": "1",
    "DB_POOL_TIMEOUT": "2",
    "LOG_FORMAT": "plain",
}


def notify_run(env: dict, sink, log_dir, name: str) -> ManageCommand:
    env = {**env, **JOB_SETTINGS, **sink.email_env()}
    return ManageCommand(["run_notifications", "--json"], env=env, log_dir=log_dir, name=name)


def run_until_not_refused(env, sink, log_dir, name: str) -> tuple[int, dict | None]:
    for attempt in range(50):
        code, result = notify_run(env, sink, log_dir, f"{name}-{attempt}").wait()
        if code != 75:
            return code, result
    pytest.fail("the stalled holder's lock never went stale")


def delivered_twice(sink) -> dict[str, int]:
    """Each request is due one reminder: a recipient that got two got the same one twice
    (Django gives every send a new Message-ID, so the recipient is the key)."""
    return {to: n for to, n in sink.recipients().items() if n > 1}


@pytest.fixture
def due(postgres_only):
    requests_make(DUE, expires_in=timedelta(days=10))  # each due its 30-Day Reminder


def test_a_stalled_holder_sends_nothing_after_another_server_takes_over(
    due, db_proxy, proxied_env, child_env, smtp_sink, tmp_path
):
    db_proxy.delay(0.01)
    stalled = notify_run(proxied_env, smtp_sink, tmp_path, "stalled")
    wait_for(lambda: len(smtp_sink.delivered) >= 10, "the first sends")
    db_proxy.pause()  # its database traffic stalls; its SMTP traffic does not go through the proxy
    try:
        code, _ = run_until_not_refused(child_env, smtp_sink, tmp_path, "taker")
        assert code == 0
    finally:
        db_proxy.resume()
    stalled.wait()

    holder = NotificationJobRun.objects.get(started_by__startswith="stalled:")
    assert holder.status in ("Abandoned", "Failed")
    late = ExpiryNotification.objects.filter(job_id=holder.job_id, sent_at__gt=holder.completed_at)
    assert late.count() == 0, "the stalled run wrote records after it was taken over"
    assert delivered_twice(smtp_sink) == {}
    assert len(smtp_sink.recipients()) == DUE


def test_a_database_cut_mid_run_sends_nothing_twice(
    due, db_proxy, proxied_env, child_env, smtp_sink, tmp_path
):
    db_proxy.delay(0.01)
    cut = notify_run(proxied_env, smtp_sink, tmp_path, "cut")
    wait_for(lambda: len(smtp_sink.delivered) >= 10, "the first sends")
    db_proxy.cut()  # the records in flight fail; their emails were delivered
    cut.wait()
    db_proxy.restore()

    code, _ = run_until_not_refused(child_env, smtp_sink, tmp_path, "next")
    assert code == 0
    assert delivered_twice(smtp_sink) == {}
    assert len(smtp_sink.recipients()) == DUE
    assert ExpiryNotification.objects.count() == DUE
