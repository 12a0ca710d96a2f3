"""The delivery job: send the webhook outbox's due deliveries, signed (Standard Webhooks), in
parallel on WEBHOOK_MAX_WORKERS threads sharing one HTTP client, and record every attempt.
`deliver_events_run` serves the Deliveries page and `manage.py deliver_events`.

Each run first fans new events out (one delivery row per endpoint that wants the event),
then sends in rounds until nothing is due. A 2xx marks the delivery delivered, and only
pending deliveries are ever sent, so a recorded 2xx is never followed by another send; a
send whose 2xx was not recorded (the process died) is sent again: at-least-once, with
webhook-id for receivers to de-duplicate. Failures wait WEBHOOK_RETRY_SECONDS[n] (±20 %
jitter) before retry n+1; after the last, the delivery is dead. A delivery waits while an
earlier delivery of the same request to the same endpoint is pending: order per request.
How it works: docs/webhooks.md.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from standardwebhooks import Webhook

from accessmgr.db import db_now
from jobs.lock import JobLock
from jobs.models import DeliverEventsJobRun
from jobs.runner import job_run
from webhooks.events import event_bodies
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.security import AddressRefused, host_check, url_port

logger = logging.getLogger("jobs.delivery")

PENDING = WebhookDelivery.Status.PENDING
DELIVERED = WebhookDelivery.Status.DELIVERED
DEAD = WebhookDelivery.Status.DEAD

DISPATCH_BATCH = 1000  # events fanned out per transaction (SQL Server: under 2,100 parameters)
SEND_BATCH = 200  # deliveries read per round
TEXT_MAX = 1000  # Response_Body, Error and Last_Error columns
USER_AGENT = "accessmgr-webhooks/1"


@dataclass(frozen=True)
class DeliveryResult:
    job_id: str
    dispatched_count: int  # events fanned out to their endpoints
    delivered_count: int
    failed_count: int  # failed attempts (each retried later, or dead)
    dead_count: int  # deliveries that failed their last retry in this run

    @property
    def message(self) -> str:
        if not (self.delivered_count or self.failed_count):
            return "No webhook deliveries were due."
        message = f"Delivered {self.delivered_count} webhook event{'' if self.delivered_count == 1 else 's'}"
        if self.failed_count:
            message += f"; {self.failed_count} attempts failed"
            message += f" ({self.dead_count} now dead)." if self.dead_count else " (retried later)."
        return message + ("" if self.failed_count else ".")


@dataclass(frozen=True)
class _Outcome:
    delivery: WebhookDelivery
    status_code: int | None
    duration_ms: int
    response_body: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempts: int) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, or None: dead."""
    schedule = settings.WEBHOOK_RETRY_SECONDS
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * random.uniform(0.8, 1.2)


def events_dispatch(*, lock: JobLock) -> int:
    """Fan out up to DISPATCH_BATCH undispatched events, oldest first: a pending delivery
    for each active endpoint that wants it, in one fenced transaction; events fanned out."""
    with transaction.atomic():
        lock.fence()
        events = list(
            WebhookEvent.objects.filter(dispatched_at__isnull=True)
            .order_by("id")
            .values_list("id", "type", "request_id")[:DISPATCH_BATCH]
        )
        if not events:
            return 0
        now = db_now()
        endpoints = list(WebhookEndpoint.objects.filter(active=True))
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    event_id=event_id, endpoint=endpoint, request_id=request_id, next_attempt_at=now
                )
                for event_id, event_type, request_id in events
                for endpoint in endpoints
                if endpoint.wants(event_type)
            ],
            batch_size=500,
        )
        WebhookEvent.objects.filter(id__in=[e[0] for e in events]).update(dispatched_at=now)
    return len(events)


def deliveries_due(*, now: datetime, limit: int) -> list[WebhookDelivery]:
    """Pending deliveries due at `now` with no earlier pending delivery of the same request
    to the same endpoint, oldest first."""
    earlier = WebhookDelivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        request_id=OuterRef("request_id"),
        status=PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    due = (
        WebhookDelivery.objects.filter(status=PENDING, next_attempt_at__lte=now)
        .exclude(Exists(earlier))
        .select_related("event", "endpoint")
        .order_by("next_attempt_at", "id")
    )
    return list(due[:limit])


def _read_bounded(response: httpx.Response) -> str:
    limit, body = settings.WEBHOOK_RESPONSE_MAX_BYTES, b""
    if limit:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= limit:
                break
    return body[:limit].decode("utf-8", errors="replace")


def delivery_send(client: httpx.Client, delivery: WebhookDelivery, body: str) -> _Outcome:
    """POST one signed delivery (on a pool thread; no database). Never raises."""
    endpoint, event = delivery.endpoint, delivery.event
    started = time.monotonic()

    def outcome(**fields) -> _Outcome:
        return _Outcome(delivery, duration_ms=round((time.monotonic() - started) * 1000), **fields)

    try:
        host_check(*url_port(endpoint.url))  # again now: the name may resolve elsewhere today
        sent_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.webhook_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(endpoint.secret).sign(event.webhook_id, sent_at, body),
        }
        with client.stream("POST", endpoint.url, content=body.encode(), headers=headers) as response:
            text = _read_bounded(response)
        return outcome(status_code=response.status_code, response_body=text)
    except AddressRefused as refused:
        return outcome(status_code=None, error=f"Refused: {refused}")
    except httpx.TimeoutException as exc:
        return outcome(
            status_code=None,
            error=f"Timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s ({type(exc).__name__})",
        )
    except Exception as exc:  # connection refused, TLS, a malformed answer, …
        return outcome(status_code=None, error=f"{type(exc).__name__}: {exc}"[:TEXT_MAX])


def outcomes_record(*, lock: JobLock, outcomes: list[_Outcome]) -> tuple[int, int, int]:
    """Record each attempt and its delivery's new state in one fenced transaction;
    (delivered, failed, dead). A 2xx is recorded only on a delivery still pending."""
    delivered = failed = dead = 0
    with transaction.atomic():
        processed = lock.counts["success_count"] + lock.counts["failed_count"] + len(outcomes)
        lock.fence(processed=processed, total=None)
        now = db_now()
        WebhookAttempt.objects.bulk_create(
            [
                WebhookAttempt(
                    delivery=o.delivery,
                    attempted_at=now,
                    status_code=o.status_code,
                    duration_ms=o.duration_ms,
                    response_body=o.response_body[:TEXT_MAX],
                    error=o.error[:TEXT_MAX],
                    job_id=lock.job_id,
                )
                for o in outcomes
            ]
        )
        succeeded: dict[int, list[int]] = {}  # status code -> delivery ids: one UPDATE per code
        for o in outcomes:
            if o.succeeded:
                succeeded.setdefault(o.status_code, []).append(o.delivery.id)
        for code, ids in succeeded.items():
            delivered += WebhookDelivery.objects.filter(id__in=ids, status=PENDING).update(
                status=DELIVERED,
                delivered_at=now,
                last_error="",
                attempts=F("attempts") + 1,
                last_status_code=code,
            )
        for o in outcomes:
            if o.succeeded:
                continue
            mine = WebhookDelivery.objects.filter(id=o.delivery.id, status=PENDING)
            change = {"attempts": F("attempts") + 1, "last_status_code": o.status_code}
            failed += 1
            error = o.error or f"HTTP {o.status_code}: {o.response_body[:200]}"
            delay = retry_delay(o.delivery.attempts + 1)
            if delay is None:
                dead += mine.update(status=DEAD, last_error=error[:TEXT_MAX], **change)
            else:
                next_at = now + timedelta(seconds=delay)
                mine.update(next_attempt_at=next_at, last_error=error[:TEXT_MAX], **change)
    lock.counts["success_count"] += delivered
    lock.counts["failed_count"] += failed
    return delivered, failed, dead


def _send_round(lock: JobLock, pool: ThreadPoolExecutor, client: httpx.Client, due) -> tuple[int, int, int]:
    bodies = event_bodies([d.event for d in due])
    running: set[Future] = {pool.submit(delivery_send, client, d, bodies[d.event_id]) for d in due}
    totals = [0, 0, 0]
    try:
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            recorded = outcomes_record(lock=lock, outcomes=[f.result() for f in done])
            totals = [a + b for a, b in zip(totals, recorded, strict=True)]
    finally:
        for future in running:  # interrupted or lock lost: sends not started never start
            future.cancel()
    return totals[0], totals[1], totals[2]


def _deliver(lock: JobLock) -> DeliveryResult:
    lock.counts.update(success_count=0, failed_count=0)
    dispatched = delivered = failed = dead = 0
    workers = settings.WEBHOOK_MAX_WORKERS
    client = httpx.Client(
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
        follow_redirects=False,
        trust_env=False,  # no proxy or .netrc from the environment
    )
    with (
        client,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"deliver-{lock.job_id[:8]}") as pool,
    ):
        while True:
            while batch := events_dispatch(lock=lock):
                dispatched += batch
            due = deliveries_due(now=db_now(), limit=SEND_BATCH)
            if not due:
                break
            d, f, x = _send_round(lock, pool, client, due)
            delivered, failed, dead = delivered + d, failed + f, dead + x
    return DeliveryResult(
        job_id=lock.job_id,
        dispatched_count=dispatched,
        delivered_count=delivered,
        failed_count=failed,
        dead_count=dead,
    )


def deliver_events_run(*, triggered_by: str, record_refusal: bool = True) -> DeliveryResult:
    """Run the delivery job once. Raises LockHeld or JobFailed (jobs.runner)."""
    return job_run(
        job=DeliverEventsJobRun, triggered_by=triggered_by, work=_deliver, record_refusal=record_refusal
    )


def delivery_retry(*, delivery_id: int) -> bool:
    """Make a failing or dead delivery due now, with a fresh set of retries; False when it
    is delivered (or unknown). The next delivery run sends it."""
    return bool(
        WebhookDelivery.objects.filter(id=delivery_id)
        .exclude(status=DELIVERED)
        .update(status=PENDING, attempts=0, next_attempt_at=db_now())
    )
