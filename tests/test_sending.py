"""jobs/sending.py: senders send, one recorder records (batched, fenced, retried), the lease
stops the sends, one SMTP connection per worker against a real SMTP server."""

import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import OperationalError, connections

import jobs.lock
import jobs.sending
from accessmgr.db import db_now
from jobs.api import notification_result_json
from jobs.lock import lease_seconds, lock_acquire
from jobs.models import NotificationJobRun
from jobs.notifications import notifications_send
from jobs.runner import JobFailed
from jobs.sending import notifications_record
from requests_app.models import ExpiryNotification, UserAccessRequest

from .smtp_sink import SmtpSink

_ids = itertools.count(1)


def requests_create(count: int, *, emails=None) -> list[UserAccessRequest]:
    """`count` Active requests due their 30-Day Reminder (expiring in 10 to 20 days)."""
    now = db_now()
    rows = []
    for i in range(count):
        n = next(_ids)
        rows.append(
            UserAccessRequest(
                request_id=f"REQ-S-{n:06d}",
                requestor_name=f"Person {n}",
                requestor_email=emails[i] if emails else f"s{n}@example.com",
                resource_name="Resource",
                created_at=now - timedelta(days=30),
                expires_on=now + timedelta(days=10 + i % 10, hours=1),
            )
        )
    return UserAccessRequest.objects.bulk_create(rows)


def send(**options) -> dict:
    return notification_result_json(notifications_send(triggered_by="t", **options))


def recorded() -> set[str]:
    return set(ExpiryNotification.objects.values_list("request_id", flat=True))


def failing_first(monkeypatch, failures: int) -> list[int]:
    """The recorder's statement fails (as on a lost database connection) its first
    `failures` times; the list counts every call."""
    real = jobs.sending.notifications_record
    calls = []

    def flaky(**kwargs):
        calls.append(len(kwargs["rows"]))
        if len(calls) <= failures:
            raise OperationalError("server closed the connection unexpectedly (injected)")
        return real(**kwargs)

    monkeypatch.setattr(jobs.sending, "notifications_record", flaky)
    return calls


# --- The recorder -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_to_record_is_retried_and_never_records_a_failed_send(monkeypatch, settings):
    settings.NOTIFY_MAX_WORKERS = 4
    ok = requests_create(6)
    bad = requests_create(2, emails=["bob@example.com", "carol@example.com"])
    calls = failing_first(monkeypatch, failures=2)

    result = send(fail_emails=["bob@example.com", "carol@example.com"])

    assert result["notifiedCount"] == 6 and result["failedCount"] == 2 and result["unrecordedCount"] == 0
    assert recorded() == {r.request_id for r in ok}
    assert not recorded() & {r.request_id for r in bad}
    assert len(calls) >= 3 and sum(calls[2:]) >= 6  # two failed attempts, then the rows written
    assert all(size <= 6 for size in calls)  # only sent reminders are ever handed to the recorder


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_never_records_is_reported_as_sent_not_recorded(monkeypatch, settings, caplog):
    settings.NOTIFY_MAX_WORKERS = 2
    requests = requests_create(3)
    calls = failing_first(monkeypatch, failures=10**6)

    result = send()

    assert len(calls) >= jobs.sending.RECORD_ATTEMPTS and len(calls) % jobs.sending.RECORD_ATTEMPTS == 0
    assert (result["notifiedCount"], result["failedCount"], result["unrecordedCount"]) == (0, 0, 3)
    assert {u["requestId"] for u in result["unrecorded"]} == {r.request_id for r in requests}
    assert all("could not be recorded" in u["error"] for u in result["unrecorded"])
    assert "may send them again" in result["message"]
    assert len(mail.outbox) == 3 and not recorded()
    run = NotificationJobRun.objects.get(job_id=result["jobId"])
    assert (run.status, run.success_count, run.failed_count) == ("Completed", 3, 0)  # they went out
    assert any(r.event == "record_failed" and r.levelname == "ERROR" for r in caplog.records)

    monkeypatch.undo()
    again = send()  # at least once: not recorded means sent again, with the same Message-ID
    assert again["notifiedCount"] == 3 and recorded() == {r.request_id for r in requests}
    assert sorted(m.extra_headers["Message-ID"] for m in mail.outbox[:3]) == sorted(
        m.extra_headers["Message-ID"] for m in mail.outbox[3:]
    )


@pytest.mark.django_db(transaction=True)
def test_the_record_statement_writes_only_while_the_run_holds_its_lock():
    req = requests_create(1)[0]
    row = (req.request_id, "30-Day Reminder", req.requestor_email, "job-a", "<id@example.com>")
    table = NotificationJobRun._meta.db_table

    assert notifications_record(rows=[row], run_table=table, job_id="job-a") == {}  # no such run
    lock = lock_acquire(job=NotificationJobRun, triggered_by="t")
    assert notifications_record(rows=[row], run_table=table, job_id="job-a") == {}  # not this run's lock
    written = notifications_record(rows=[row], run_table=table, job_id=lock.job_id)
    assert list(written) == [(req.request_id, "30-Day Reminder")]
    assert notifications_record(rows=[row], run_table=table, job_id=lock.job_id) == {}  # a duplicate
    gone = ("REQ-GONE", "30-Day Reminder", "x@example.com", lock.job_id, "<gone@example.com>")
    assert notifications_record(rows=[gone], run_table=table, job_id=lock.job_id) == {}  # no such request
    lock.release(status="Completed")
    assert (
        notifications_record(
            rows=[row[:1] + ("7-Day Reminder",) + row[2:]], run_table=table, job_id=lock.job_id
        )
        == {}
    )
    stored = ExpiryNotification.objects.get()
    assert (stored.job_id, stored.message_id) == ("job-a", "<id@example.com>")


class TakeoverOnThirdBackend(LocmemBackend):
    """On the third email another server takes the lock over (this run had stalled)."""

    sent = 0
    taken_at: datetime | None = None

    def send_messages(self, messages):
        cls = TakeoverOnThirdBackend
        cls.sent += 1
        if cls.sent == 3:
            NotificationJobRun.objects.filter(status="InProgress").update(status="Abandoned")
            taker = lock_acquire(job=NotificationJobRun, triggered_by="taker", started_by="other:1")
            cls.taken_at = NotificationJobRun.objects.get(job_id=taker.job_id).started_at
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_a_taken_over_run_records_nothing_after_the_takeover(settings):
    settings.EMAIL_BACKEND = "tests.test_sending.TakeoverOnThirdBackend"
    settings.NOTIFY_MAX_WORKERS = 1
    TakeoverOnThirdBackend.sent = 0
    requests_create(8)

    with pytest.raises(JobFailed, match="lost its lock") as failed:
        notifications_send(triggered_by="t")

    ours = ExpiryNotification.objects.filter(job_id=failed.value.job_id)
    assert all(r.sent_at < TakeoverOnThirdBackend.taken_at for r in ours)
    assert ours.count() < 3 <= len(mail.outbox)
    taker = NotificationJobRun.objects.get(triggered_by="taker")
    assert taker.status == "InProgress"  # the stalled run left the taker's row alone
    assert NotificationJobRun.objects.get(job_id=failed.value.job_id).status == "Failed"


# --- The lease ----------------------------------------------------------------------------------


class ClockJumpBackend(LocmemBackend):
    """The third email takes longer than the lease: the run's clock jumps past its end."""

    sent = 0

    def send_messages(self, messages):
        ClockJumpBackend.sent += 1
        if ClockJumpBackend.sent == 3:
            now = jobs.lock.lease_clock()
            jobs.lock.lease_clock = lambda: now + lease_seconds() + 1
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_lease_ran_out_starts_no_more_sends_and_stops_itself(settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.test_sending.ClockJumpBackend"
    settings.NOTIFY_MAX_WORKERS = 1
    ClockJumpBackend.sent = 0
    monkeypatch.setattr(jobs.lock, "lease_clock", jobs.lock.lease_clock)  # restored after the test
    requests_create(8)

    with pytest.raises(JobFailed, match="stopped itself") as failed:
        notifications_send(triggered_by="t")

    assert len(mail.outbox) == 3
    # Nobody took over: the records of the three sends are fenced writes of a row still its own.
    assert ExpiryNotification.objects.filter(job_id=failed.value.job_id).count() == 3
    run = NotificationJobRun.objects.get(job_id=failed.value.job_id)
    assert (run.status, run.success_count, run.total_count) == ("Failed", 3, 8)
    assert "no heartbeat confirmed" in run.error_message


class StallAfterFiveBackend(LocmemBackend):
    """After the fifth email another session locks the run's row (FOR UPDATE) for 3 s, as a
    stalled database or a long lock wait would."""

    sent = 0
    holding = threading.Event()
    release = threading.Event()

    @classmethod
    def _stall(cls):
        other = connections["default"]  # this thread's own connection
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute(
                'SELECT 1 FROM "NotificationJobRun" WHERE "Status" = %s FOR UPDATE', ["InProgress"]
            )
            cls.holding.set()
            cls.release.wait(30)
        other.rollback()
        other.set_autocommit(True)
        other.close()

    def send_messages(self, messages):
        cls = StallAfterFiveBackend
        cls.sent += 1
        if cls.sent == 5:
            threading.Thread(target=cls._stall, daemon=True).start()
            cls.holding.wait(10)
            threading.Timer(3, cls.release.set).start()  # the stall ends after the lease did
        return super().send_messages(messages)


def test_a_stalled_heartbeat_stops_the_sends_before_the_lock_could_go_stale(
    postgres_only, transactional_db, settings
):
    """Another session holds the run's row locked: the heartbeat's and progress UPDATEs time
    out (JOB_STATEMENT_TIMEOUT_SECONDS), the lease runs out, the senders stop."""
    settings.EMAIL_BACKEND = "tests.test_sending.StallAfterFiveBackend"
    settings.JOB_HEARTBEAT_SECONDS = 0.1
    settings.JOB_STALE_AFTER_SECONDS = 2  # lease 1.5 s after the last confirmed beat
    settings.JOB_STATEMENT_TIMEOUT_SECONDS = 0.2
    settings.NOTIFY_SEND_DELAY_SECONDS = 0.05
    settings.NOTIFY_MAX_WORKERS = 1
    StallAfterFiveBackend.sent = 0
    StallAfterFiveBackend.holding.clear()
    StallAfterFiveBackend.release.clear()
    requests_create(400)  # 20 s of sends

    try:
        with pytest.raises(JobFailed, match="stopped itself") as failed:
            notifications_send(triggered_by="t")
    finally:
        StallAfterFiveBackend.release.set()

    assert 5 <= len(mail.outbox) < 400
    run = NotificationJobRun.objects.get(job_id=failed.value.job_id)
    assert run.status == "Failed" and "no heartbeat confirmed" in run.error_message
    # Every email sent was recorded once the stall ended (the row was still this run's).
    assert ExpiryNotification.objects.filter(job_id=run.job_id).count() == len(mail.outbox)


# --- SMTP connections ---------------------------------------------------------------------------


@pytest.fixture
def smtp_sink(settings):
    sink = SmtpSink().start()
    for name, value in sink.django_settings().items():
        setattr(settings, name, value)
    yield sink
    sink.stop()


@pytest.mark.django_db(transaction=True)
def test_each_worker_reuses_one_smtp_connection(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 4
    requests = requests_create(40)

    result = send()

    assert result["notifiedCount"] == 40 and result["failedCount"] == 0
    assert 1 <= smtp_sink.connections <= 4  # not one per email
    assert sorted(smtp_sink.recipients) == sorted(r.requestor_email for r in requests)
    stored = dict(ExpiryNotification.objects.values_list("request_id", "message_id"))
    assert sorted(smtp_sink.message_ids) == sorted(stored.values())  # the header, as recorded
    assert len(set(smtp_sink.message_ids)) == 40


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_drops_is_reopened_and_no_email_is_lost_or_doubled(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 3
    smtp_sink.drop_after = {5, 12, 13}
    requests = requests_create(30)

    result = send()

    assert result["notifiedCount"] == 30 and result["failedCount"] == 0
    assert sorted(smtp_sink.recipients) == sorted(r.requestor_email for r in requests)
    assert len(set(smtp_sink.message_ids)) == 30
    assert smtp_sink.connections <= 3 + 3  # the workers' own, plus one re-opening per drop


@pytest.mark.django_db(transaction=True)
def test_smtp_connections_are_capped_below_the_workers(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 8
    settings.NOTIFY_SMTP_CONNECTIONS = 2
    requests_create(24)

    result = send()

    assert result["notifiedCount"] == 24
    assert 1 <= smtp_sink.connections <= 2


@pytest.mark.django_db(transaction=True)
def test_a_server_that_refuses_connections_fails_the_sends_and_records_none(settings):
    sink = SmtpSink()  # never started: nothing listens on its port
    for name, value in sink.django_settings().items():
        setattr(settings, name, value)
    settings.NOTIFY_MAX_WORKERS = 2
    requests_create(3)

    result = send()

    assert (result["notifiedCount"], result["failedCount"]) == (0, 3)
    assert not recorded()


@pytest.mark.django_db(transaction=True)
def test_an_email_api_backend_sends_each_reminder_with_its_message_id(settings):
    """django-anymail's test backend stands for an email API (SES, Postmark, …)."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.NOTIFY_MAX_WORKERS = 2
    requests_create(4)

    result = send()

    assert result["notifiedCount"] == 4
    stored = set(ExpiryNotification.objects.values_list("message_id", flat=True))
    assert {m.extra_headers["Message-ID"] for m in mail.outbox} == stored
    assert all(m.anymail_status.status == {"sent"} for m in mail.outbox)


def test_the_message_id_is_stable_per_request_type_and_expiry():
    from jobs.notifications import PendingNotification

    expiry = datetime(2026, 5, 1, tzinfo=UTC)
    item = PendingNotification("REQ-1", "P", "p@example.com", "R", expiry, 10, 0, "30-Day Reminder")
    same = PendingNotification("REQ-1", "Q", "q@example.com", "S", expiry, 9, 0, "30-Day Reminder")
    assert item.message_id == same.message_id
    assert item.message_id != replace(item, reminder="7-Day Reminder").message_id
    assert item.message_id != replace(item, expires_on=expiry + timedelta(days=30)).message_id
    assert item.message_id.startswith("<") and item.message_id.endswith("@localhost>")


def test_start_up_refuses_a_postgresql_pool_too_small_for_a_job_run():
    from .conftest import django_start

    result = django_start(DATABASE_URL="postgres://root@127.0.0.1:5432/test", DB_POOL_MAX_SIZE="3")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DB_POOL_MAX_SIZE must be at least 4" in result.stderr
    ok = django_start(DATABASE_URL="postgres://root@127.0.0.1:5432/test", DB_POOL_MAX_SIZE="4")
    assert ok.returncode == 0, ok.stderr
