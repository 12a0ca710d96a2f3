"""The notification job: email each Active request due a reminder (REMINDER_DAYS, default a
30-Day then a 7-Day Reminder) in parallel, recording a reminder only after its email went
out, so a failed send is retried by the next run. `pending_notifications()` is the one
selector behind the page, the API and the job; `notifications_send()` the one job function."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.template.defaultfilters import date as date_format
from django.templatetags.tz import utc
from django.urls import reverse
from django.utils.translation import get_language

from accessmgr.db import days_left, db_now
from jobs.dialects import dialect_for
from jobs.emails import EmailRenderer, PreparedEmail, email_build, stable_message_id
from jobs.lock import JobLock
from jobs.models import NotificationClaim, NotificationFailure, NotificationJobRun
from jobs.runner import job_run
from jobs.sending import Outcome, Written, send_all
from requests_app.models import (
    ACCESS_ENDED,
    NEVER_EXPIRES,
    AccessEvent,
    ExpiryNotification,
    UserAccessRequest,
)
from webhooks.events import notices_announce

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
    created_at: datetime | None = None  # the request's, for the webhook event's fields

    @property
    def requestor_email(self) -> str:
        return self.email

    @cached_property  # computed once: the claim, the email and the record all use it
    def message_id(self) -> str:
        """The same Message-ID whenever this notice (request, type, expiry) is sent."""
        return stable_message_id(self.request_id, self.reminder, self.expires_on.isoformat())

    @property
    def expires_text(self) -> str:
        """Expires_On as the emails print it, in UTC: "Saturday 5 December 2026, 14:30"."""
        return _minute_text(utc(self.expires_on).replace(second=0, microsecond=0), get_language())

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


@lru_cache(maxsize=4096)  # many requests of a bulk grant share their expiry minute
def _minute_text(minute: datetime, language: str | None) -> str:
    return date_format(minute, "l j F Y, H:i")


# The reminders about the request's current expiry; one without Expires_On (written by
# the original system, which does not know the column) counts as about it too.
_FOR_CURRENT_EXPIRY = Q(notifications__expires_on=F("expires_on")) | Q(notifications__expires_on__isnull=True)


def _claims_of(request_id, **fields):
    return NotificationClaim.objects.filter(request_id=request_id, **fields)


def _claimed_for_current_expiry() -> Coalesce:
    """The request's claimed notices about its current expiry: in doubt (a claim outlives
    its send only when its record failed), so they count as sent."""
    claimed = (
        _claims_of(OuterRef("request_id"), expires_on=OuterRef("expires_on"))
        .order_by()
        .values("request_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(claimed), 0)


def _due(today: datetime) -> Q:
    """reminder_due(sent_count=…, days_left=…) is not None, on the annotated rows: with k
    reminders sent, days_left <= REMINDER_DAYS[k], i.e. the expiry's UTC date is at most
    today + REMINDER_DAYS[k], i.e. it is before midnight UTC of the day after that."""
    due = Q(pk__in=[])
    for sent, days in enumerate(settings.REMINDER_DAYS):
        due |= Q(sent_count=sent, expires_on__lt=min(today + timedelta(days=days + 1), NEVER_EXPIRES))
    return due


def _reminders_due(now: datetime) -> QuerySet[UserAccessRequest]:
    """The Active requests due a reminder at `now`, soonest expiry first, annotated with
    sent_count: expiry still ahead, at most max(REMINDER_DAYS) UTC calendar days away,
    never-expiring rows excluded, reminder_due's rule as SQL (see _due)."""
    window = max(settings.REMINDER_DAYS)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        UserAccessRequest.objects.filter(
            status=UserAccessRequest.Status.ACTIVE,
            expires_on__gt=now,
            expires_on__lt=min(today + timedelta(days=window + 1), NEVER_EXPIRES),
        )
        .annotate(
            recorded_count=Count("notifications", filter=_FOR_CURRENT_EXPIRY),
            sent_count=F("recorded_count") + _claimed_for_current_expiry(),
        )
        .filter(_due(today))
        .order_by("expires_on", "id")
    )


def pending_notifications_count(*, now: datetime | None = None) -> int:
    """len(pending_notifications(now=now)), counted by the database: two COUNT queries."""
    now = db_now() if now is None else now
    return _reminders_due(now).count() + _access_ended_due().count()


def pending_notifications(*, now: datetime | None = None) -> list[PendingNotification]:
    """Active requests due a reminder now, soonest expiry first (_reminders_due), then the
    access-ended notices due (access_ended_pending). A reminder in doubt (claimed, never
    recorded) counts as sent. Two queries, which return only the due rows."""
    now = db_now() if now is None else now
    rows = _reminders_due(now).values_list(
        "request_id",
        "requestor_name",
        "requestor_email",
        "resource_name",
        "expires_on",
        "sent_count",
        "created_at",
    )
    pending = []
    for request_id, name, email, resource, expires_on, sent_count, created_at in rows:
        left = days_left(expires_on=expires_on, now=now)
        reminder = reminder_due(sent_count=sent_count, days_left=left)
        if reminder:
            pending.append(
                PendingNotification(
                    request_id=request_id,
                    requestor_name=name,
                    email=email,
                    resource_name=resource,
                    expires_on=expires_on,
                    days_left=left,
                    sent_count=sent_count,
                    reminder=reminder,
                    created_at=created_at,
                )
            )
    return pending + access_ended_pending(now=now)


def _access_ended_due() -> QuerySet[AccessEvent]:
    """The "Revoked" audit events of revoked requests with no ACCESS_ENDED notice recorded
    or claimed (in doubt)."""
    sent = ExpiryNotification.objects.filter(
        request_id=OuterRef("request_id"), notification_type=ACCESS_ENDED
    )
    claimed = _claims_of(OuterRef("request_id"), notification_type=ACCESS_ENDED)
    return (
        AccessEvent.objects.filter(
            event_type=AccessEvent.Type.REVOKED, request__status=UserAccessRequest.Status.REVOKED
        )
        .exclude(Exists(sent))
        .exclude(Exists(claimed))
    )


def access_ended_pending(*, now: datetime) -> list[PendingNotification]:
    """Revoked requests whose "Access Ended" notice has not been sent: each request with a
    "Revoked" audit event (revocations before the audit trail have none, so no notice for
    them) and no ACCESS_ENDED ExpiryNotification or claim (in doubt). Oldest revocation
    first. One query."""
    rows = (
        _access_ended_due()
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
            "request__created_at",
        )
    )
    return [
        PendingNotification(
            request_id=request_id,
            requestor_name=name,
            email=email,
            resource_name=resource,
            expires_on=expires_on,
            days_left=days_left(expires_on=expires_on, now=now),
            sent_count=0,
            reminder=ACCESS_ENDED,
            revoked_at=revoked_at,
            revoked_by=actor,
            revoke_reason=reason,
            revoke_job_id=job_id,
            created_at=created_at,
        )
        for request_id, name, email, resource, expires_on, revoked_at, actor, reason, job_id, created_at in rows
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


# --- The job ------------------------------------------------------------------------------


# A reminder's templates differ by type and days left; the rest is printed as it is.
REMINDER_FIELDS = ("requestor_name", "resource_name", "request_id", "expires_text", "page_url")
REMINDER_VARIANT = ("reminder", "days_left")


def notification_emails() -> Callable[[PendingNotification], PreparedEmail]:
    """For one run: each notice's email with its stable Message-ID. Reminders are rendered
    once per (type, days left) and filled in per requestor (jobs.emails.EmailRenderer);
    access-ended notices, one per revocation, are rendered whole."""
    reminders = EmailRenderer("expiry-reminder", fields=REMINDER_FIELDS, variant=REMINDER_VARIANT)

    def build(item: PendingNotification) -> PreparedEmail:
        if item.email_template != reminders.name:
            return notification_email(item)
        message = reminders.build(item, to=item.email)
        message.extra_headers["Message-ID"] = item.message_id
        return message

    return build


def notification_email(item: PendingNotification) -> PreparedEmail:
    """The notice's email, with its stable Message-ID, rendered whole."""
    message = email_build(name=item.email_template, to=item.email, context={"item": item})
    message.extra_headers["Message-ID"] = item.message_id
    return message


def _record_row(job_id: str):
    def row(item: PendingNotification) -> tuple:
        return (item.request_id, item.reminder, item.email, job_id, item.expires_on, item.message_id)

    return row


def _record_key(item: PendingNotification) -> tuple:
    return (item.request_id, item.reminder)


NOTIFIED_BY = "System - Expiry Notification Job"


def _notices_record_also(written: list[tuple[PendingNotification, Written]]) -> None:
    """Inside the recorder's transaction, from the ExpiryNotification rows it wrote: the audit
    trail's "Reminder Sent" / "Access Ended Sent" event of each and the webhook outbox's
    access_request.expiring event of each reminder. One INSERT … SELECT per table."""
    ids = [row.id for _item, row in written]
    with connection.cursor() as cursor:
        cursor.execute(
            dialect_for().notice_events_insert_sql(len(ids)),
            [
                ACCESS_ENDED,
                AccessEvent.Type.ACCESS_ENDED_SENT,
                AccessEvent.Type.REMINDER_SENT,
                NOTIFIED_BY,
                *ids,
            ],
        )
    notices_announce(ids)


def _failure_rule(*, simulate_failures: bool, fail_emails: frozenset):
    rng = random.Random()

    def should_fail(item: PendingNotification) -> str:
        if item.email.lower() in fail_emails:
            return f"Simulated failure for {item.email} (test mode: failEmail)."
        if simulate_failures and rng.random() < 0.5:
            return "Simulated failure (test mode: random failures)."
        return ""

    return should_fail


def failures_record(*, job_id: str, outcomes: list[Outcome]) -> None:
    """Keep the run's failed sends (NotificationFailure), for its run page. One INSERT; a
    database error is retried once on a fresh connection (this thread's may have been
    broken while it waited for the senders)."""
    failures = [o for o in outcomes if o.status == "failed"]
    if not failures:
        return
    for attempt in (1, 2):
        try:
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
                for o in failures
            )
            return
        except DatabaseError:
            if attempt == 2 or connection.in_atomic_block:
                raise
            connection.close()  # the next query opens a fresh connection


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
    unrecorded: list[FailedSend] = field(default_factory=list)  # sent, record not written
    connections_opened: int = 0  # SMTP connections the run opened
    released_count: int = 0  # in-doubt claims of earlier runs released (NOTIFY_IN_DOUBT=resend)

    @property
    def message(self) -> str:
        if not self.total:
            return "No requests need a notification right now."
        message = f"Sent {len(self.sent)} of {self.total} notifications" + (
            f"; {len(self.failed)} failed and will be retried by the next run." if self.failed else "."
        )
        if self.skipped_count:
            message += f" {self.skipped_count} already recorded (skipped)."
        if self.unrecorded:
            message += (
                f" {len(self.unrecorded)} were sent but could not be recorded: they are held in doubt "
                "and not sent again unless released (NOTIFY_IN_DOUBT)."
            )
        if self.released_count:
            message += f" {self.released_count} in doubt from earlier runs were released and are due again."
        return message

    @property
    def estimated_sequential_seconds(self) -> float:
        """The seed's estimate: one send after another, each waiting the simulated latency."""
        return self.total * settings.NOTIFY_SEND_DELAY_SECONDS

    @property
    def speedup(self) -> float | None:
        sequential = self.estimated_sequential_seconds
        return round(sequential / self.parallel_seconds, 1) if sequential and self.parallel_seconds else None


def claims_in_doubt() -> QuerySet[NotificationClaim]:
    """The claims left by runs that are no longer in progress: notices in doubt (sent or
    maybe sent, never recorded). A live run's claims are in flight, not in doubt."""
    live = NotificationJobRun.objects.filter(status=NotificationJobRun.Status.IN_PROGRESS).values("job_id")
    return NotificationClaim.objects.exclude(job_id__in=live)


def in_doubt_release(lock: JobLock) -> int:
    """NOTIFY_IN_DOUBT=resend: delete the claims earlier runs left (this run holds the lock,
    so none is in flight), so their notices are due again; how many. "hold": 0."""
    if settings.NOTIFY_IN_DOUBT != "resend":
        return 0
    released, _ = claims_in_doubt().delete()  # this run's own claims are live, so left
    if released:
        lock.log(
            logging.WARNING,
            f"Job notifications run {lock.job_id}: {released} notices in doubt (claimed by earlier runs, "
            "never recorded) released; they are sent again (NOTIFY_IN_DOUBT=resend)",
            event="in_doubt_released",
            released=released,
        )
    return released


def _notify(lock: JobLock, *, should_fail) -> NotificationResult:
    released = in_doubt_release(lock)
    pending = pending_notifications()
    total = len(pending)
    lock.counts.update(success_count=0, failed_count=0, processed_count=0, total_count=total)
    lock.progress(processed=0, total=total)
    if not pending:
        return NotificationResult(job_id=lock.job_id, total=0, released_count=released)
    report = send_all(
        lock,
        pending,
        build=notification_emails(),
        row=_record_row(lock.job_id),
        key=_record_key,
        also=_notices_record_also,
        should_fail=should_fail,
    )
    outcomes = report.outcomes
    failures_record(job_id=lock.job_id, outcomes=outcomes)

    def failures(status: str) -> list[FailedSend]:
        return [FailedSend(o.item.request_id, o.item.email, o.error) for o in outcomes if o.status == status]

    return NotificationResult(
        job_id=lock.job_id,
        total=total,
        sent=[
            SentReminder(o.item.request_id, o.item.email, o.item.reminder, o.item.days_left, o.sent_at)
            for o in outcomes
            if o.status == "sent"
        ],
        failed=failures("failed"),
        skipped_count=sum(o.status == "skipped" for o in outcomes),
        parallel_seconds=report.parallel_seconds,
        workers=report.workers,
        unrecorded=failures("unrecorded"),
        connections_opened=report.connections_opened,
        released_count=released,
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
