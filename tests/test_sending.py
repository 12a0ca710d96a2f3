"""jobs/sending.py: senders send, one recorder records (batched, fenced, retried), the lease
stops the sends, one SMTP connection per worker against a real SMTP server (SmtpSink)."""

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import OperationalError, connections

import jobs.lock
import jobs.sending
from jobs.api import notification_result_json
from jobs.lock import lease_seconds, lock_acquire
from jobs.models import NotificationClaim, NotificationJobRun
from jobs.notifications import PendingNotification, notifications_send
from jobs.runner import JobFailed
from jobs.sending import kept_pools_close, notifications_record, switch_interval
from requests_app.models import AccessEvent, ExpiryNotification
from tests.factories import request_make, requests_make
from tests.faults.smtp import SmtpSink
from webhooks.events import event_bodies
from webhooks.models import EXPIRING, WebhookEvent

DUE_IN = timedelta(days=10)  # each due its 30-Day Reminder


def send(**options) -> dict:
    return notification_result_json(notifications_send(triggered_by="t", **options))


def recorded() -> set[str]:
    return set(ExpiryNotification.objects.values_list("request_id", flat=True))


def failing_first(monkeypatch, failures: int) -> list[int]:
    """The recorder's statement fails (as on a lost database connection) its first
    `failures` times; the list counts every call (the rows handed over each time)."""
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
    ok = requests_make(6, expires_in=DUE_IN)
    bad = [
        request_make(expires_in=DUE_IN, requestor_email=e) for e in ("bob@example.com", "carol@example.com")
    ]
    calls = failing_first(monkeypatch, failures=2)

    result = send(fail_emails=["bob@example.com", "carol@example.com"])

    assert result["notifiedCount"] == 6 and result["failedCount"] == 2 and result["unrecordedCount"] == 0
    assert recorded() == {r.request_id for r in ok}
    assert not recorded() & {r.request_id for r in bad}
    assert len(calls) >= 3 and sum(calls[2:]) >= 6  # two failed attempts, then the rows written
    assert all(size <= 6 for size in calls)  # only sent reminders are ever handed to the recorder
    # With each record, in the same transaction: its audit event and its webhook event.
    assert AccessEvent.objects.filter(event_type="Reminder Sent").count() == 6
    events = WebhookEvent.objects.filter(type=EXPIRING)
    assert {e.request_id for e in events} == {r.request_id for r in ok}
    bodies = [json.loads(body)["data"] for body in event_bodies(list(events)).values()]  # as sent
    assert sorted(b["requestId"] for b in bodies) == sorted(r.request_id for r in ok)
    assert all(b["reminder"] == "30-Day Reminder" and b["daysLeft"] == 10 for b in bodies)
    assert all(b["jobId"] == result["jobId"] and b["requestorEmail"] for b in bodies)


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_never_records_is_reported_as_sent_not_recorded(monkeypatch, settings, caplog):
    settings.NOTIFY_MAX_WORKERS = 2
    requests = requests_make(3, expires_in=DUE_IN)
    calls = failing_first(monkeypatch, failures=10**6)

    result = send()

    assert len(calls) >= jobs.sending.RECORD_ATTEMPTS and len(calls) % jobs.sending.RECORD_ATTEMPTS == 0
    assert (result["notifiedCount"], result["failedCount"], result["unrecordedCount"]) == (0, 0, 3)
    assert {u["requestId"] for u in result["unrecorded"]} == {r.request_id for r in requests}
    assert all("could not be recorded" in u["error"] for u in result["unrecorded"])
    assert "held in doubt" in result["message"]
    assert len(mail.outbox) == 3 and not recorded()
    assert not AccessEvent.objects.exists() and not WebhookEvent.objects.exists()
    run = NotificationJobRun.objects.get(job_id=result["jobId"])
    assert (run.status, run.success_count, run.failed_count) == ("Completed", 3, 0)  # they went out
    assert any(getattr(r, "event", "") == "record_failed" and r.levelname == "ERROR" for r in caplog.records)

    assert NotificationClaim.objects.filter(job_id=result["jobId"]).count() == 3  # in doubt

    monkeypatch.undo()
    held = send()  # NOTIFY_IN_DOUBT=hold: in doubt counts as sent, so nothing is due
    assert (held["notifiedCount"], len(mail.outbox)) == (0, 3) and "No requests need" in held["message"]

    settings.NOTIFY_IN_DOUBT = "resend"  # at least once: sent again, with the same Message-ID
    again = send()
    assert again["notifiedCount"] == 3 and recorded() == {r.request_id for r in requests}
    assert "3 in doubt from earlier runs were released" in again["message"]
    assert not NotificationClaim.objects.exists()
    assert sorted(m.extra_headers["Message-ID"] for m in mail.outbox[:3]) == sorted(
        m.extra_headers["Message-ID"] for m in mail.outbox[3:]
    )


@pytest.mark.django_db(transaction=True)
def test_the_record_statement_writes_only_while_the_run_holds_its_lock():
    req = request_make(expires_in=DUE_IN)
    row = (
        req.request_id,
        "30-Day Reminder",
        req.requestor_email,
        "job-a",
        req.expires_on,
        "<id@example.com>",
    )
    table = NotificationJobRun._meta.db_table

    assert notifications_record(rows=[row], run_table=table, job_id="job-a") == {}  # no such run
    lock = lock_acquire(job=NotificationJobRun, triggered_by="t")
    assert notifications_record(rows=[row], run_table=table, job_id="job-a") == {}  # not this run's lock
    written = notifications_record(rows=[row], run_table=table, job_id=lock.job_id)
    assert list(written) == [(req.request_id, "30-Day Reminder")]
    assert notifications_record(rows=[row], run_table=table, job_id=lock.job_id) == {}  # a duplicate
    later = row[:4] + (req.expires_on + timedelta(days=90),) + row[5:]  # extended: re-armed
    assert list(notifications_record(rows=[later], run_table=table, job_id=lock.job_id)) == [
        (req.request_id, "30-Day Reminder")
    ]
    gone = ("REQ-GONE", "30-Day Reminder", "x@example.com", lock.job_id, req.expires_on, "<gone@example.com>")
    assert notifications_record(rows=[gone], run_table=table, job_id=lock.job_id) == {}  # no such request
    lock.release(status="Completed")
    seven = row[:1] + ("7-Day Reminder",) + row[2:]
    assert notifications_record(rows=[seven], run_table=table, job_id=lock.job_id) == {}  # run ended
    stored = ExpiryNotification.objects.get(expires_on=req.expires_on)
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
    requests_make(8, expires_in=DUE_IN)

    with pytest.raises(JobFailed, match="lost its lock") as failed:
        notifications_send(triggered_by="t")

    ours = ExpiryNotification.objects.filter(job_id=failed.value.job_id)
    assert all(r.sent_at < TakeoverOnThirdBackend.taken_at for r in ours)
    assert ours.count() < 3 <= len(mail.outbox)
    assert AccessEvent.objects.filter(job_id=failed.value.job_id).count() == ours.count()
    taker = NotificationJobRun.objects.get(triggered_by="taker")
    assert taker.status == "InProgress"  # the stalled run left the taker's row alone
    assert NotificationJobRun.objects.get(job_id=failed.value.job_id).status == "Failed"


class AllAtOnceBackend(LocmemBackend):
    """Each send waits until `parties` sends are under way together (or fails after 5 s)."""

    barrier: threading.Barrier | None = None

    def send_messages(self, messages):
        AllAtOnceBackend.barrier.wait(timeout=5)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_every_worker_sends_at_once_although_the_items_are_claimed_in_several_batches(settings, monkeypatch):
    settings.EMAIL_BACKEND = "tests.test_sending.AllAtOnceBackend"
    settings.NOTIFY_MAX_WORKERS = 6
    monkeypatch.setattr(jobs.sending, "RECORD_BATCH_ROWS", 2)  # claims of at most 2 items
    monkeypatch.setattr(jobs.sending, "PROGRESS_EVERY_SECONDS", 60)  # no wake-up but the sends'
    AllAtOnceBackend.barrier = threading.Barrier(6)
    requests_make(6, expires_in=DUE_IN)

    result = send()

    assert (result["notifiedCount"], result["failedCount"]) == (6, 0)  # a late claim breaks the barrier
    assert len(recorded()) == 6


class SwitchIntervalBackend(LocmemBackend):
    """Notes the interpreter's switch interval during each send."""

    seen: list[float] = []

    def send_messages(self, messages):
        SwitchIntervalBackend.seen.append(sys.getswitchinterval())
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_the_sends_run_with_the_switch_interval_setting_and_restore_the_interpreters(settings):
    settings.EMAIL_BACKEND = "tests.test_sending.SwitchIntervalBackend"
    settings.NOTIFY_SWITCH_INTERVAL_SECONDS = 0.04
    SwitchIntervalBackend.seen = []
    before = sys.getswitchinterval()
    requests_make(3, expires_in=DUE_IN)

    assert send()["notifiedCount"] == 3

    assert SwitchIntervalBackend.seen == [0.04] * 3
    assert sys.getswitchinterval() == before


def test_overlapping_runs_share_the_switch_interval_and_the_last_one_out_restores_it():
    before = sys.getswitchinterval()
    first, second = switch_interval(0.03), switch_interval(0.03)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == 0.03  # the second run is still sending
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before
    with switch_interval(0):  # 0 leaves it
        assert sys.getswitchinterval() == before


class ThreadNotingBackend(LocmemBackend):
    """Notes which thread made each send."""

    threads: set[int] = set()

    def send_messages(self, messages):
        ThreadNotingBackend.threads.add(threading.get_ident())
        return super().send_messages(messages)


class PreparedNotingBackend(LocmemBackend):
    """Notes whether each email reached it with its MIME message already made."""

    arrived_prepared: list[bool] = []

    def send_messages(self, messages):
        PreparedNotingBackend.arrived_prepared += [m.message() is m.message() for m in messages]
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_each_email_reaches_the_backend_with_its_message_made_before_the_wait(settings):
    settings.EMAIL_BACKEND = "tests.test_sending.PreparedNotingBackend"
    PreparedNotingBackend.arrived_prepared = []
    requests_make(3, expires_in=DUE_IN)
    assert send()["notifiedCount"] == 3
    assert PreparedNotingBackend.arrived_prepared == [True, True, True]
    assert all(m.message() is not m.message() for m in mail.outbox)  # the outbox's copies: their own


def notify_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("notify")]


@pytest.fixture
def kept_pools():
    yield
    kept_pools_close()


@pytest.mark.django_db(transaction=True)
def test_the_next_run_of_the_process_sends_on_the_threads_the_last_one_started(settings, kept_pools):
    settings.EMAIL_BACKEND = "tests.test_sending.ThreadNotingBackend"
    settings.NOTIFY_POOL_KEEP_SECONDS = 300
    settings.NOTIFY_MAX_WORKERS = 4
    ThreadNotingBackend.threads = set()
    requests_make(4, expires_in=DUE_IN)
    assert send()["notifiedCount"] == 4
    first, started = set(ThreadNotingBackend.threads), {t.ident for t in notify_threads()}
    assert len(started) == 4 and first <= started  # kept after the run

    ThreadNotingBackend.threads = set()
    requests_make(4, expires_in=DUE_IN)
    assert send()["notifiedCount"] == 4

    assert ThreadNotingBackend.threads <= started  # no thread started for the second run
    assert {t.ident for t in notify_threads()} == started


@pytest.mark.django_db(transaction=True)
def test_a_kept_pool_ends_its_threads_once_no_run_took_it_for_the_keep_time(settings, kept_pools):
    settings.NOTIFY_POOL_KEEP_SECONDS = 300
    settings.NOTIFY_MAX_WORKERS = 3
    requests_make(3, expires_in=DUE_IN)
    assert send()["notifiedCount"] == 3
    [(_pool, timer)] = jobs.sending._KEPT._idle.values()
    assert timer.interval == 300 and len(notify_threads()) == 3  # kept, for the keep time

    timer.cancel()
    timer.function(*timer.args)  # the keep time is up, and no run took the pool
    for thread in notify_threads():
        thread.join(timeout=5)

    assert notify_threads() == []
    assert jobs.sending._KEPT._idle == {}


class InterruptedPool(ThreadPoolExecutor):
    """A SIGTERM (KeyboardInterrupt) lands once two threads are started."""

    interrupted = False

    def submit(self, fn, /, *args, **kwargs):
        if len(self._threads) == 2 and not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt("Interrupted (SIGTERM)")
        return super().submit(fn, *args, **kwargs)


def test_an_interrupt_while_the_threads_start_frees_those_already_started():
    pool = InterruptedPool(max_workers=2, thread_name_prefix="notify-test")
    try:
        with pytest.raises(KeyboardInterrupt):
            jobs.sending._warm(pool, 3, build=lambda: None)
        started = pool.submit(lambda: "free")  # for one of the two threads, once free
        assert started.result(timeout=10) == "free"  # not after WARM_TIMEOUT_SECONDS
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.django_db(transaction=True)
def test_without_keeping_a_run_leaves_no_sender_thread(settings):
    settings.NOTIFY_POOL_KEEP_SECONDS = 0
    settings.NOTIFY_MAX_WORKERS = 3
    requests_make(3, expires_in=DUE_IN)
    assert send()["notifiedCount"] == 3
    assert notify_threads() == []


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
    requests_make(8, expires_in=DUE_IN)

    with pytest.raises(JobFailed, match="stopped itself") as failed:
        notifications_send(triggered_by="t")

    assert len(mail.outbox) == 3
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
    settings.NOTIFY_RECORD_RETRY_SECONDS = (
        0.2  # the recorder's retries (0.2, 0.4, 0.8, 1.6 s) outlast the stall
    )
    StallAfterFiveBackend.sent = 0
    StallAfterFiveBackend.holding.clear()
    StallAfterFiveBackend.release.clear()
    requests_make(400, expires_in=DUE_IN)  # 20 s of sends

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
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield sink


@pytest.mark.django_db(transaction=True)
def test_each_worker_reuses_one_smtp_connection(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 4
    requests = requests_make(40, expires_in=DUE_IN)

    result = send()

    assert result["notifiedCount"] == 40 and result["failedCount"] == 0
    assert 1 <= smtp_sink.connections <= 4  # not one per email
    assert sorted(smtp_sink.recipients()) == sorted(r.requestor_email for r in requests)
    stored = dict(ExpiryNotification.objects.values_list("request_id", "message_id"))
    delivered = [d.message_id for d in smtp_sink.delivered]
    assert sorted(delivered) == sorted(stored.values())  # the header, as recorded
    assert len(set(delivered)) == 40


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_drops_is_reopened_and_no_email_is_lost_or_doubled(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 3
    requests = requests_make(30, expires_in=DUE_IN)
    smtp_sink.drop_next(1)  # the first DATA: connection closed, not delivered

    result = send()

    assert result["notifiedCount"] == 30 and result["failedCount"] == 0
    assert sorted(smtp_sink.recipients()) == sorted(r.requestor_email for r in requests)
    assert smtp_sink.duplicates() == {}
    assert smtp_sink.connections <= 3 + 1  # the workers' own, plus the one re-opening


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_twice_for_one_send_fails_that_send_only(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 1
    requests_make(5, expires_in=DUE_IN)
    smtp_sink.drop_next(2)  # the first send, and its one retry on a re-opened connection

    result = send()

    assert (result["notifiedCount"], result["failedCount"]) == (4, 1)
    assert len(recorded()) == 4 and len(smtp_sink.recipients()) == 4


@pytest.mark.django_db(transaction=True)
def test_smtp_connections_are_capped_below_the_workers(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 8
    settings.NOTIFY_SMTP_CONNECTIONS = 2
    requests_make(24, expires_in=DUE_IN)

    result = send()

    assert result["notifiedCount"] == 24
    assert 1 <= smtp_sink.connections <= 2


@pytest.mark.django_db(transaction=True)
def test_a_send_rate_cap_still_sends_everything(smtp_sink, settings):
    settings.NOTIFY_MAX_WORKERS = 4
    settings.NOTIFY_MAX_SENDS_PER_SECOND = 200
    requests_make(10, expires_in=DUE_IN)

    assert send()["notifiedCount"] == 10
    assert len(smtp_sink.recipients()) == 10


@pytest.mark.django_db(transaction=True)
def test_a_server_that_refuses_connections_fails_the_sends_and_records_none(smtp_sink, settings):
    smtp_sink.refuse()  # nothing listens on its port
    settings.NOTIFY_MAX_WORKERS = 2
    requests_make(3, expires_in=DUE_IN)

    result = send()

    assert (result["notifiedCount"], result["failedCount"]) == (0, 3)
    assert not recorded()


def test_the_message_id_is_stable_per_request_type_and_expiry():
    expiry = datetime(2026, 5, 1, tzinfo=UTC)
    item = PendingNotification("REQ-1", "P", "p@example.com", "R", expiry, 10, 0, "30-Day Reminder")
    same = PendingNotification("REQ-1", "Q", "q@example.com", "S", expiry, 9, 0, "30-Day Reminder")
    assert item.message_id == same.message_id
    assert item.message_id != replace(item, reminder="7-Day Reminder").message_id
    assert item.message_id != replace(item, expires_on=expiry + timedelta(days=30)).message_id
    assert item.message_id.startswith("<") and item.message_id.endswith("@localhost>")
