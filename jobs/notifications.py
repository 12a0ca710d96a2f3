"""The notification job: email each Active request due a reminder (REMINDER_DAYS, default a
30-Day then a 7-Day Reminder) in parallel, recording a reminder only after its email went
out, so a failed send is retried by the next run. `pending_notifications()` is the one
selector behind the page, the API and the job; `notifications_send()` the one job function."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Event, Lock

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse

from accessmgr.db import db_datetime, db_now
from jobs.dialects import dialect_for
from jobs.emails import email_build
from jobs.lock import JobLock, LockLost
from jobs.models import NotificationFailure, NotificationJobRun
from jobs.runner import job_run
from requests_app.models import NEVER_EXPIRES, AccessEvent, ExpiryNotification, UserAccessRequest

logger = logging.getLogger("jobs.notifications")

# SQLite lets one writer in at a time and makes the others poll with growing sleeps;
# taking turns in-process instead hands the write lock straight to the next task.
_SQLITE_WRITER = Lock()

PROGRESS_EVERY_SECONDS = 1.0  # at most one progress UPDATE a second, plus one at the end


# --- Which reminder is due --------------------------------------------------------------


def reminder_name(days: int) -> str:
    return f"{days}-Day Reminder"


def reminder_due(*, sent_count: int, days_left: int, reminder_days: list[int] | None = None) -> str | None:
    """The reminder to send now, or None. With k reminders already sent, reminder k+1
    is due when days_left <= reminder_days[k]. The default (30, 7) is the seed's table:
    count 0 → 30-Day; count 1 and ≤ 7 days → 7-Day; otherwise nothing."""
    reminder_days = settings.REMINDER_DAYS if reminder_days is None else reminder_days
    if 0 <= sent_count < len(reminder_days) and days_left <= reminder_days[sent_count]:
        return reminder_name(reminder_days[sent_count])
    return None


def days_left(*, expires_on: datetime, now: datetime) -> int:
    """Calendar days between two UTC moments, as SQL Server's DATEDIFF(DAY, now, expires_on)
    counts them: the difference of their UTC dates (23:59 → 00:01 next day is 1 day)."""
    return (expires_on.date() - now.date()).days


@dataclass(frozen=True)
class PendingNotification:
    request_id: str
    requestor_name: str
    email: str
    resource_name: str
    expires_on: datetime
    days_left: int
    sent_count: int  # reminders already recorded for this request's current expiry
    reminder: str  # the one due now, e.g. "7-Day Reminder", or ACCESS_ENDED
    # ACCESS_ENDED only: the revocation (from its "Revoked" audit event)
    revoked_at: datetime | None = None
    revoked_by: str = ""
    revoke_reason: str = ""
    revoke_job_id: str | None = None

    @property
    def email_template(self) -> str:
        return "access-ended" if self.reminder == ACCESS_ENDED else "expiry-reminder"

    @property
    def page_url(self) -> str:
        """The request's page, absolute (SITE_URL), for the email."""
        return settings.SITE_URL + reverse("requests_app:request_detail", args=[self.request_id])

    @property
    def new_request_url(self) -> str:
        return settings.SITE_URL + reverse("requests_app:create_request")


# The reminders about the request's current expiry; one without Expires_On (written by
# the original system, which does not know the column) counts as about it too.
_FOR_CURRENT_EXPIRY = Q(notifications__expires_on=F("expires_on")) | Q(notifications__expires_on__isnull=True)


def pending_notifications(*, now: datetime | None = None) -> list[PendingNotification]:
    """Active requests due a reminder now, soonest expiry first: expiry still ahead, at most
    max(REMINDER_DAYS) UTC calendar days away, never-expiring rows excluded. One query."""
    now = db_now() if now is None else now
    window = max(settings.REMINDER_DAYS)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        UserAccessRequest.objects.filter(
            status=UserAccessRequest.Status.ACTIVE,
            expires_on__gt=now,
            expires_on__lt=min(today + timedelta(days=window + 1), NEVER_EXPIRES),
        )
        .annotate(sent_count=Count("notifications", filter=_FOR_CURRENT_EXPIRY))
        .order_by("expires_on", "id")
        .values_list(
            "request_id", "requestor_name", "requestor_email", "resource_name", "expires_on", "sent_count"
        )
    )
    pending = []
    for request_id, name, email, resource, expires_on, sent_count in rows:
        left = days_left(expires_on=expires_on, now=now)
        reminder = reminder_due(sent_count=sent_count, days_left=left)
        if reminder:
            pending.append(
                PendingNotification(request_id, name, email, resource, expires_on, left, sent_count, reminder)
            )
    return pending + access_ended_pending(now=now)


ACCESS_ENDED = "Access Ended"


def access_ended_pending(*, now: datetime) -> list[PendingNotification]:
    """Revoked requests whose "Access Ended" notice has not been sent: each request with a
    "Revoked" audit event (revocations before the audit trail have none, so no notice for
    them) and no ACCESS_ENDED ExpiryNotification. Oldest revocation first. One query."""
    sent = ExpiryNotification.objects.filter(
        request_id=OuterRef("request_id"), notification_type=ACCESS_ENDED
    )
    rows = (
        AccessEvent.objects.filter(
            event_type=AccessEvent.Type.REVOKED, request__status=UserAccessRequest.Status.REVOKED
        )
        .exclude(Exists(sent))
        .order_by("occurred_at", "id")
        .values_list(
            "request_id",
            "request__requestor_name",
            "request__requestor_email",
            "request__resource_name",
            "request__expires_on",
            "occurred_at",
            "actor",
            "reason",
            "job_id",
        )
    )
    return [
        PendingNotification(
            request_id,
            name,
            email,
            resource,
            expires_on,
            days_left(expires_on=expires_on, now=now),
            0,
            ACCESS_ENDED,
            revoked_at=revoked_at,
            revoked_by=actor,
            revoke_reason=reason,
            revoke_job_id=job_id,
        )
        for request_id, name, email, resource, expires_on, revoked_at, actor, reason, job_id in rows
    ]


# --- Test mode --------------------------------------------------------------------------


class NotifyOptionsError(ValueError):
    """Test-mode options refused (TEST_MODE off) or malformed; the text is for the user."""


def failure_options_validate(
    *, simulate_failures: bool, fail_emails: Iterable[str]
) -> tuple[bool, frozenset]:
    """(simulate_failures, fail_emails) checked: only when TEST_MODE is on, only emails."""
    emails = [e.strip() for e in fail_emails if e and e.strip()]
    if (simulate_failures or emails) and not settings.TEST_MODE:
        raise NotifyOptionsError(
            "Test mode is off (TEST_MODE): simulated failures (simulateFailures, failEmail) are not accepted."
        )
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            raise NotifyOptionsError(f"failEmail must be an email address, got {email[:254]!r}.") from None
    return bool(simulate_failures), frozenset(e.lower() for e in emails)


class SimulatedFailure(Exception):
    """A send failed on purpose (test mode)."""


# --- The job ------------------------------------------------------------------------------


@dataclass
class _Outcome:
    item: PendingNotification
    status: str  # "sent" | "skipped" | "failed" | "cancelled"
    error: str = ""
    sent_at: datetime | None = None  # "sent": Sent_At as recorded


def notification_record(*, item: PendingNotification, job_id: str) -> datetime:
    """Record one sent notice and its audit event on this thread's connection, in one
    transaction; its Sent_At as the database set it. Raises IntegrityError when it was
    recorded meanwhile. On SQLite the connection is opened inside the in-process writer turn
    (docs/benchmarks.md)."""
    sql = dialect_for().notification_insert_sql()
    expires_on = connection.ops.adapt_datetimefield_value(item.expires_on)
    with (
        _SQLITE_WRITER if connection.vendor == "sqlite" else nullcontext(),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [item.request_id, item.reminder, item.email, job_id, expires_on])
        sent_at = db_datetime(cursor.fetchone()[0])
        notice_event_record(item=item, job_id=job_id)
    return sent_at


NOTIFIED_BY = "System - Expiry Notification Job"


def notice_event_record(*, item: PendingNotification, job_id: str) -> None:
    """The audit trail's "Reminder Sent" / "Access Ended Sent" event of one recorded notice:
    one INSERT (jobs.dialects.access_event_insert_sql). Call inside the notice's transaction."""
    event = (
        AccessEvent.Type.ACCESS_ENDED_SENT
        if item.reminder == ACCESS_ENDED
        else AccessEvent.Type.REMINDER_SENT
    )
    sql = dialect_for().access_event_insert_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [item.request_id, event, NOTIFIED_BY, job_id, "", f"{item.reminder} to {item.email}"]
        )


def _send_one(
    item: PendingNotification, *, lock: JobLock, stop: Event, should_fail, delay: float
) -> _Outcome:
    """One task, on a pool thread: render, wait (the simulated latency), send, record. Never
    raises: an error is a failed outcome. Closes this thread's connection at the end."""
    try:
        message = email_build(name=item.email_template, to=item.email, context={"item": item})
        if stop.wait(delay) or lock.lost.is_set():  # interrupted, or another run took over
            return _Outcome(item, "cancelled")
        reason = should_fail(item)
        if reason:
            raise SimulatedFailure(reason)
        message.send()
        try:
            sent_at = notification_record(item=item, job_id=lock.job_id)
        except IntegrityError:
            return _Outcome(item, "skipped", "already recorded")
        return _Outcome(item, "sent", sent_at=sent_at)
    except Exception as exc:
        logger.warning("notification failed request=%s email=%s error=%s", item.request_id, item.email, exc)
        return _Outcome(item, "failed", str(exc) or type(exc).__name__)
    finally:
        connection.close()


def _failure_rule(*, simulate_failures: bool, fail_emails: frozenset):
    rng = random.Random()

    def should_fail(item: PendingNotification) -> str:
        if item.email.lower() in fail_emails:
            return f"Simulated failure for {item.email} (test mode: failEmail)."
        if simulate_failures and rng.random() < 0.5:
            return "Simulated failure (test mode: random failures)."
        return ""

    return should_fail


def _count(lock: JobLock, outcomes: list[_Outcome], total: int) -> None:
    """The run's counts so far, which the runner releases it with (also when it fails)."""
    lock.counts.update(
        success_count=sum(o.status == "sent" for o in outcomes),
        failed_count=sum(o.status == "failed" for o in outcomes),
        processed_count=len(outcomes),
        total_count=total,
    )


def _send_all(lock: JobLock, pending: list[PendingNotification], should_fail) -> list[_Outcome]:
    """Send on at most NOTIFY_MAX_WORKERS threads; report progress from this thread once a
    second; stop (drop queued tasks) when the lock is lost. Outcomes in the order of `pending`.

    Raises LockLost when another run took over."""
    total = len(pending)
    stop = Event()
    workers = min(settings.NOTIFY_MAX_WORKERS, total)
    futures = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"notify-{lock.job_id[:8]}") as pool:
        try:
            for item in pending:
                futures.append(
                    pool.submit(
                        _send_one,
                        item,
                        lock=lock,
                        stop=stop,
                        should_fail=should_fail,
                        delay=settings.NOTIFY_SEND_DELAY_SECONDS,
                    )
                )
            running = set(futures)
            while running:
                _, running = wait(running, timeout=PROGRESS_EVERY_SECONDS)
                if lock.lost.is_set():
                    break
                if running and not lock.progress(processed=total - len(running), total=total):
                    break
        finally:
            # Lock lost or interrupted (SIGTERM, Ctrl-C), also while submitting: drop queued
            # tasks, wake the waiting ones; tasks already sending finish and the pool joins them.
            if any(not f.done() for f in futures):
                stop.set()
                for future in futures:
                    future.cancel()
    outcomes = [f.result() for f in futures if not f.cancelled()]
    _count(lock, outcomes, total)
    if lock.lost.is_set():
        raise LockLost(
            f"Run {lock.job_id} of the notification job lost its lock to another run; stopped sending."
        )
    return outcomes


def failures_record(*, job_id: str, outcomes: list[_Outcome]) -> None:
    """Keep the run's failed sends (NotificationFailure), for its run page."""
    failed_at = db_now()
    NotificationFailure.objects.bulk_create(
        NotificationFailure(
            job_id=job_id,
            request_id=o.item.request_id,
            notification_type=o.item.reminder,
            sent_to=o.item.email,
            error_message=o.error,
            failed_at=failed_at,
        )
        for o in outcomes
        if o.status == "failed"
    )


@dataclass(frozen=True)
class SentReminder:
    request_id: str
    email: str
    reminder: str
    days_left: int
    sent_at: datetime


@dataclass(frozen=True)
class FailedSend:
    request_id: str
    email: str
    error: str


@dataclass(frozen=True)
class NotificationResult:
    job_id: str
    total: int  # due when the run started
    sent: list[SentReminder] = field(default_factory=list)
    failed: list[FailedSend] = field(default_factory=list)
    skipped_count: int = 0  # recorded meanwhile by someone else
    parallel_seconds: float = 0.0
    workers: int = 0

    @property
    def message(self) -> str:
        if not self.total:
            return "No requests need a notification right now."
        message = f"Sent {len(self.sent)} of {self.total} notifications" + (
            f"; {len(self.failed)} failed and will be retried by the next run." if self.failed else "."
        )
        if self.skipped_count:
            message += f" {self.skipped_count} already recorded (skipped)."
        return message

    @property
    def estimated_sequential_seconds(self) -> float:
        """The seed's estimate: one send after another, each waiting the simulated latency."""
        return self.total * settings.NOTIFY_SEND_DELAY_SECONDS

    @property
    def speedup(self) -> float | None:
        sequential = self.estimated_sequential_seconds
        return round(sequential / self.parallel_seconds, 1) if sequential and self.parallel_seconds else None


def _notify(lock: JobLock, *, should_fail) -> NotificationResult:
    pending = pending_notifications()
    total = len(pending)
    _count(lock, [], total)
    lock.progress(processed=0, total=total)
    if not pending:
        return NotificationResult(job_id=lock.job_id, total=0)
    started = time.monotonic()
    outcomes = _send_all(lock, pending, should_fail)
    parallel_seconds = time.monotonic() - started
    failures_record(job_id=lock.job_id, outcomes=outcomes)
    return NotificationResult(
        job_id=lock.job_id,
        total=total,
        sent=[
            SentReminder(o.item.request_id, o.item.email, o.item.reminder, o.item.days_left, o.sent_at)
            for o in outcomes
            if o.status == "sent"
        ],
        failed=[
            FailedSend(o.item.request_id, o.item.email, o.error) for o in outcomes if o.status == "failed"
        ],
        skipped_count=sum(o.status == "skipped" for o in outcomes),
        parallel_seconds=parallel_seconds,
        workers=min(settings.NOTIFY_MAX_WORKERS, total),
    )


def notifications_send(
    *, triggered_by: str, simulate_failures: bool = False, fail_emails=(), record_refusal: bool = True
) -> NotificationResult:
    """Run the notification job once. Raises NotifyOptionsError (bad or refused test
    options; nothing ran), LockHeld or JobFailed (jobs.runner)."""
    simulate_failures, fail_emails = failure_options_validate(
        simulate_failures=simulate_failures, fail_emails=fail_emails
    )
    should_fail = _failure_rule(simulate_failures=simulate_failures, fail_emails=fail_emails)
    return job_run(
        job=NotificationJobRun,
        triggered_by=triggered_by,
        work=lambda lock: _notify(lock, should_fail=should_fail),
        record_refusal=record_refusal,
    )
