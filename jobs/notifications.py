"""Flow 1: Send Expiry Notifications.

Remind requestors before their access expires, at most one reminder per entry of
REMINDER_DAYS (default 30,7: a "30-Day Reminder", then a "7-Day Reminder"), recording a
reminder only when its email really went out, so a failed send is simply retried by the
next run.

- `pending_notifications()` is the one selector behind the page, the API and the job.
- `notifications_send()` is the one job function behind the page, the API and the
  `run_notifications` command: lock, select, send in parallel, record, release.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event, Lock

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse

from accessmgr.db import db_datetime, db_now
from jobs.dialects import access_event_insert_sql, notification_insert_sql
from jobs.emails import email_build
from jobs.lock import JobLock, LockLost, lock_acquire
from jobs.models import JobRun, NotificationJobRun
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

    def as_json(self) -> dict:
        return {
            "requestId": self.request_id,
            "requestorName": self.requestor_name,
            "requestorEmail": self.email,
            "resourceName": self.resource_name,
            "expiresOn": self.expires_on.isoformat(),
            "daysLeft": self.days_left,
            "notificationCount": self.sent_count,
            "notificationType": self.reminder,
        }


# The reminders about the request's current expiry; one without Expires_On (written by
# the original system, which does not know the column) counts as about it too.
_FOR_CURRENT_EXPIRY = Q(notifications__expires_on=F("expires_on")) | Q(notifications__expires_on__isnull=True)


def pending_notifications(*, now: datetime | None = None) -> list[PendingNotification]:
    """Active requests that need a reminder now, soonest expiry first.

    One query (plus the database clock): Active requests whose expiry moment is still
    ahead and whose DaysLeft (UTC calendar days) is at most the first REMINDER_DAYS entry
    (30: the seed's 0–30 days), never-expiring rows (9999-12-31) excluded, each with its
    count of recorded notifications; then the decision per row. Requests whose expiry has
    already passed belong to the revoke job."""
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


class NotificationJobFailed(Exception):
    """The run crashed; its row was released as Failed with this error."""

    def __init__(self, job_id: str, error: str):
        self.job_id = job_id
        self.error = error
        super().__init__(f"The notification job {job_id} failed: {error}")


@dataclass
class _Outcome:
    item: PendingNotification
    status: str  # "sent" | "skipped" | "failed" | "cancelled"
    error: str = ""
    sent_at: datetime | None = None  # "sent": Sent_At as recorded


def notification_record(*, item: PendingNotification, job_id: str) -> datetime:
    """Record one sent reminder on this thread's connection, in autocommit, and return its
    Sent_At as the database clock set it: one statement (jobs.dialects.notification_insert_sql),
    plain SQL rather than `objects.create()` because it runs once per email on up to 1,000
    threads sharing one GIL, where the ORM's instance and compiler cost 0.3 ms of CPU per
    row against 0.1 ms for the statement. Raises IntegrityError when the reminder was
    recorded meanwhile (unique Request_Id + Notification_Type). On SQLite the connection
    is opened inside the in-process writer turn: opened before it, 1,000 waiting tasks
    held up to 1,000 connections (bench: 999 open, +100 MB) and the job got slower."""
    sql = notification_insert_sql(vendor=connection.vendor, quote=connection.ops.quote_name)
    expires_on = connection.ops.adapt_datetimefield_value(item.expires_on)
    with (
        _SQLITE_WRITER if connection.vendor == "sqlite" else nullcontext(),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [item.request_id, item.reminder, item.email, job_id, expires_on])
        row = cursor.fetchone() if cursor.description else None
        notice_event_record(item=item, job_id=job_id)
    if row is None:  # SQLite before 3.35: no RETURNING
        return ExpiryNotification.objects.values_list("sent_at", flat=True).get(
            request_id=item.request_id, notification_type=item.reminder, expires_on=item.expires_on
        )
    return db_datetime(row[0])


NOTIFIED_BY = "System - Expiry Notification Job"


def notice_event_record(*, item: PendingNotification, job_id: str) -> None:
    """The audit trail's "Reminder Sent" / "Access Ended Sent" event of one recorded notice:
    one INSERT (jobs.dialects.access_event_insert_sql). Call inside the notice's transaction."""
    event = (
        AccessEvent.Type.ACCESS_ENDED_SENT
        if item.reminder == ACCESS_ENDED
        else AccessEvent.Type.REMINDER_SENT
    )
    sql = access_event_insert_sql(vendor=connection.vendor, quote=connection.ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [item.request_id, event, NOTIFIED_BY, job_id, "", f"{item.reminder} to {item.email}"]
        )


def _send_one(
    item: PendingNotification, *, lock: JobLock, stop: Event, should_fail, delay: float
) -> _Outcome:
    """One task, on a pool thread: wait (the seed's simulated latency), send, record.
    Never raises: every error becomes a failed outcome, so one task never stops another.
    Uses this thread's own connection and closes it (returns it to the pool) at the end.
    The email is rendered before the wait, so that CPU work overlaps the other tasks'
    waiting instead of queueing behind the GIL after it."""
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
            # Recorded meanwhile (unique Request_Id + Notification_Type): not a failure.
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


def _send_all(lock: JobLock, pending: list[PendingNotification], should_fail) -> tuple[list[_Outcome], float]:
    """Send in parallel on at most NOTIFY_MAX_WORKERS threads; report progress from this
    (the main) thread once a second, and stop (drop the queued tasks) when the lock was
    taken over. Outcomes come back in the order of `pending`."""
    total = len(pending)
    workers = min(settings.NOTIFY_MAX_WORKERS, total)
    stop = Event()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"notify-{lock.job_id[:8]}") as pool:
        futures = [
            pool.submit(
                _send_one,
                item,
                lock=lock,
                stop=stop,
                should_fail=should_fail,
                delay=settings.NOTIFY_SEND_DELAY_SECONDS,
            )
            for item in pending
        ]
        running = set(futures)
        try:
            while running:
                _, running = wait(running, timeout=PROGRESS_EVERY_SECONDS)
                if lock.lost.is_set():
                    break
                if running and not lock.progress(processed=total - len(running), total=total):
                    break
        finally:
            # On lock loss or interrupt (SIGTERM / Ctrl-C): drop queued tasks and wake the
            # waiting ones; tasks already sending finish and the pool joins them.
            if running:
                stop.set()
                for future in futures:
                    future.cancel()
    outcomes = [f.result() for f in futures if not f.cancelled()]
    if lock.lost.is_set():
        raise LockLost(f"Run {lock.job_id} lost its lock to another run; stopped sending.")
    return outcomes, time.monotonic() - started


def notifications_send(*, triggered_by: str, simulate_failures: bool = False, fail_emails=()) -> dict:
    """Run the notification job once and return its result (the seed's response shape).

    Raises NotifyOptionsError (bad or refused test options, before locking), LockHeld
    (another run holds the lock: .active_job), LockLost (taken over mid-run) or
    NotificationJobFailed (crashed; released as Failed)."""
    simulate_failures, fail_emails = failure_options_validate(
        simulate_failures=simulate_failures, fail_emails=fail_emails
    )
    lock = lock_acquire(job=NotificationJobRun, triggered_by=triggered_by)
    try:
        with lock:
            pending = pending_notifications()
            total = len(pending)
            lock.progress(processed=0, total=total)
            should_fail = _failure_rule(simulate_failures=simulate_failures, fail_emails=fail_emails)
            outcomes, parallel_seconds = _send_all(lock, pending, should_fail) if pending else ([], 0.0)
            sent = [o for o in outcomes if o.status == "sent"]
            failed = [o for o in outcomes if o.status == "failed"]
            skipped = [o for o in outcomes if o.status == "skipped"]
            lock.progress(processed=len(outcomes), total=total)
    except LockLost:
        lock.release(status=JobRun.Status.FAILED, error="Lock lost to another run; stopped sending.")
        raise
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        logger.exception("notification job failed jobId=%s", lock.job_id)
        lock.release(status=JobRun.Status.FAILED, error=error)
        raise NotificationJobFailed(lock.job_id, error) from exc
    except BaseException as exc:  # KeyboardInterrupt (Ctrl-C, SIGTERM via the command)
        lock.release(status=JobRun.Status.FAILED, error=str(exc) or type(exc).__name__)
        raise
    lock.release(
        status=JobRun.Status.COMPLETED,
        success_count=len(sent),
        failed_count=len(failed),
        total_count=total,
        processed_count=len(outcomes),
    )
    # The seed's estimate: one send after another, each waiting the simulated latency.
    sequential = total * settings.NOTIFY_SEND_DELAY_SECONDS
    workers = min(settings.NOTIFY_MAX_WORKERS, total)
    if not total:
        message = "No requests need a notification right now."
    else:
        message = f"Sent {len(sent)} of {total} notifications" + (
            f"; {len(failed)} failed and will be retried by the next run." if failed else "."
        )
        if skipped:
            message += f" {len(skipped)} already recorded (skipped)."
    return {
        "message": message,
        "jobId": lock.job_id,
        "notifiedCount": len(sent),
        "failedCount": len(failed),
        "skippedCount": len(skipped),
        "notifications": [
            {
                "requestId": o.item.request_id,
                "email": o.item.email,
                "type": o.item.reminder,
                "daysLeft": o.item.days_left,
                "sentAt": o.sent_at.isoformat(),
            }
            for o in sent
        ],
        "failures": [
            {"requestId": o.item.request_id, "email": o.item.email, "error": o.error} for o in failed
        ],
        "performance": {
            "parallelSeconds": round(parallel_seconds, 3),
            "estimatedSequentialSeconds": round(sequential, 3),
            "speedup": round(sequential / parallel_seconds, 1) if sequential and parallel_seconds else None,
            "workers": workers,
        },
    }
