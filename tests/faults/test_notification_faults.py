"""The notification job under faults: `manage.py run_notifications` in a child process whose
database traffic goes through a FaultProxy, sending to an SmtpSink. Every reminder must
be delivered once: a stalled run must stop sending before another run takes its lease
over, and a send whose record failed must not be sent again (its claim holds it).

The stalled run stops on its own clock (its lease, jobs.lock.JobLock.lease_held) and its
records are fenced on its run row; a record that fails is retried by the recorder and, if
it never lands, reported "unrecorded", not "failed" (docs/notifications.md)."""

import re
from datetime import timedelta

import pytest

from jobs.models import NotificationClaim, NotificationJobRun
from requests_app.models import ExpiryNotification, UserAccessRequest
from tests.factories import requests_make
from tests.faults.child import ManageCommand, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
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


def unrecorded_by(stderr: str) -> set[str]:
    """The Request_Ids a run logged as SENT BUT NOT RECORDED (jobs.sending's record_failed)."""
    lines = [line for line in stderr.splitlines() if "SENT BUT NOT RECORDED" in line]
    return {request_id for line in lines for request_id in re.findall(r"'(REQ-[A-Z0-9-]+)'", line)}


def test_a_stalled_holder_sends_nothing_after_another_server_takes_over(
    due, db_proxy, proxied_env, child_env, smtp_sink, tmp_path
):
    """The stalled run stops sending on its own clock before the taker can win, and writes
    nothing after the takeover. What it had sent and could not record is in doubt: its
    claims stay, so the taker does not send those again (NOTIFY_IN_DOUBT=hold): every
    reminder is delivered exactly once."""
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
    taker = NotificationJobRun.objects.get(status="Completed")
    assert holder.status in ("Abandoned", "Failed")
    late = ExpiryNotification.objects.filter(job_id=holder.job_id, sent_at__gt=holder.completed_at)
    assert late.count() == 0, "the stalled run wrote records after it was taken over"
    assert delivered_twice(smtp_sink) == {} and smtp_sink.duplicates() == {}
    assert len(smtp_sink.recipients()) == DUE

    email_of = dict(UserAccessRequest.objects.values_list("request_id", "requestor_email"))
    in_doubt = set(
        NotificationClaim.objects.filter(job_id=holder.job_id).values_list("request_id", flat=True)
    )
    assert in_doubt, "the stall left sends the stalled run could not record"
    assert in_doubt == unrecorded_by(stalled.stderr)  # each one named in its log
    by_holder = {
        email_of[r]
        for r in ExpiryNotification.objects.filter(job_id=holder.job_id).values_list("request_id", flat=True)
    } | {email_of[r] for r in in_doubt}
    by_taker = set(ExpiryNotification.objects.filter(job_id=taker.job_id).values_list("sent_to", flat=True))
    assert by_holder.isdisjoint(by_taker) and len(by_holder | by_taker) == DUE
    # The stalled run's sends all came before the taker's first.
    order = [d.recipient for d in smtp_sink.delivered]
    first_by_taker = min(order.index(to) for to in by_taker)
    assert all(order.index(to) < first_by_taker for to in by_holder)


def test_a_database_cut_mid_run_sends_nothing_twice(
    due, db_proxy, proxied_env, child_env, smtp_sink, tmp_path
):
    db_proxy.delay(0.01)
    cut = notify_run(proxied_env, smtp_sink, tmp_path, "cut")
    wait_for(lambda: len(smtp_sink.delivered) >= 10, "the first sends")
    db_proxy.cut()  # the records in flight fail; their emails were delivered
    cut_code, cut_result = cut.wait()
    db_proxy.restore()
    # No delivered reminder is reported failed: the recorder retried on fresh connections,
    # and what it could not record is "unrecorded" (exit 3), held by its claim. A run that
    # could not claim its next sends ends Failed (exit 1) with the error.
    assert cut_code in (0, 1, 3), cut.stderr[-2000:]
    assert cut_result is None or cut_result.get("failedCount", 0) == 0, cut_result

    code, _ = run_until_not_refused(child_env, smtp_sink, tmp_path, "next")
    assert code == 0
    assert delivered_twice(smtp_sink) == {}
    assert len(smtp_sink.recipients()) == DUE
    # Each delivered once and recorded, or held in doubt by its claim.
    assert ExpiryNotification.objects.count() + NotificationClaim.objects.count() == DUE


POOL_DUE = 400


def test_a_pool_of_four_with_200_workers_sends_each_reminder_once_and_fails_none(
    postgres_only, db_proxy, proxied_env, smtp_sink, tmp_path
):
    """Issue 13 item 2: DB_POOL_MAX_SIZE=4, 200 workers, 50 ms database round trips. The
    senders hold no connection (the main thread, the heartbeat and the recorder hold one
    each), so no send waits for the pool: every reminder is delivered once and recorded,
    none reported failed or unrecorded."""
    requests_make(POOL_DUE, expires_in=timedelta(days=10))
    db_proxy.delay(0.05)
    env = {
        **proxied_env,
        **JOB_SETTINGS,
        **smtp_sink.email_env(),
        "NOTIFY_MAX_WORKERS": "200",
        "DB_POOL_MAX_SIZE": "4",
        "JOB_HEARTBEAT_SECONDS": "1",
        "JOB_STALE_AFTER_SECONDS": "20",  # 50 ms round trips: a lease of many batches
    }
    code, result = ManageCommand(
        ["run_notifications", "--json"], env=env, log_dir=tmp_path, name="pool"
    ).wait()

    assert code == 0, result
    assert (result["notifiedCount"], result["failedCount"], result["unrecordedCount"]) == (POOL_DUE, 0, 0)
    assert smtp_sink.duplicates() == {} and delivered_twice(smtp_sink) == {}
    assert len(smtp_sink.recipients()) == POOL_DUE
    assert ExpiryNotification.objects.count() == POOL_DUE
    assert smtp_sink.connections <= 200  # one SMTP connection per worker at most, not one per email
