"""Recording events in the outbox and building the bodies receivers get (docs/webhooks.md).

`event_record` is the one way a service announces a change: call it inside the transaction
that makes the change, after the write that locks the request row, so the event commits or
rolls back with it and events of one request are numbered in the order they happened.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection
from django.db.models.expressions import RawSQL

from accessmgr.db import days_left, db_datetime
from jobs.dialects import dialect_for
from requests_app.models import ACCESS_ENDED, ExpiryNotification, RevokedAccess, UserAccessRequest
from webhooks.models import (
    EVENT_TYPES,
    EXPIRING,
    REVOKED,
    TEST,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from webhooks.trigger import deliveries_after_commit


def _time(value: datetime | None) -> str | None:
    return db_datetime(value).isoformat().replace("+00:00", "Z") if value is not None else None


def request_data(request: UserAccessRequest) -> dict:
    """The request's fields every access_request.* event carries (from anything with the
    attributes request_id, requestor_name, requestor_email, resource_name, created_at and
    expires_on: a request, or a jobs.notifications.PendingNotification)."""
    return {
        "requestId": request.request_id,
        "requestorName": request.requestor_name,
        "requestorEmail": request.requestor_email,
        "resourceName": request.resource_name,
        "createdAt": _time(request.created_at),
        "expiresOn": _time(request.expires_on),
    }


def event_record(*, type: str, request: UserAccessRequest, data: dict | None = None) -> WebhookEvent:
    """Record one access_request.* event about `request` (its fields, then `data`: JSON-able
    extras, e.g. {"reason": …}) for every endpoint that wants `type`. Must be called inside
    the transaction of the change it announces. Created_At is the database clock's.

    Raises ValueError for an unknown type, RuntimeError outside a transaction."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; expected one of {', '.join(EVENT_TYPES)}")
    if not connection.in_atomic_block:
        raise RuntimeError("event_record must be called inside the transaction of the change it announces")
    deliveries_after_commit()
    return WebhookEvent.objects.create(
        type=type,
        request_id=request.request_id,
        data={**request_data(request), **(data or {})},
        created_at=RawSQL(dialect_for().now, []),
    )


def notices_announce(ids: list[int]) -> None:
    """The access_request.expiring event of each reminder among the ExpiryNotification rows
    `ids` (none for the access-ended notice), one INSERT … SELECT; their data is read from
    the notice when sent. Call inside the transaction that wrote the notices."""
    if not connection.in_atomic_block:
        raise RuntimeError("notices_announce must be called inside the transaction that wrote the notices")
    if not ids:
        return
    deliveries_after_commit()
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().notice_outbox_insert_sql(len(ids)), [EXPIRING, ACCESS_ENDED, *ids])


def test_event_record(*, endpoint: WebhookEndpoint, sent_by: str) -> WebhookDelivery:
    """A webhook.test event delivered to `endpoint` only (the Deliveries page's "send test
    event"); its delivery is due at once. Call inside a transaction."""
    now = RawSQL(dialect_for().now, [])
    event = WebhookEvent.objects.create(
        type=TEST,
        data={"endpointId": endpoint.id, "sentBy": sent_by, "message": "Test event from accessmgr."},
        created_at=now,
        dispatched_at=now,  # fanned out here, to this endpoint alone
    )
    return WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=now)


def revocation_data(revocation: RevokedAccess) -> dict:
    """What an access_request.revoked event adds to the request's fields."""
    return {
        "revokedAt": _time(revocation.revoked_dt),
        "revokedBy": revocation.revoked_by,
        "jobId": revocation.job_id,
    }


def notice_data(notice: ExpiryNotification) -> dict:
    """What an access_request.expiring event adds to the request's fields: the reminder, the
    days left when it was sent (UTC dates, as the job counts them) and the run."""
    left = days_left(expires_on=notice.expires_on, now=notice.sent_at)  # the job's notices have both
    return {"reminder": notice.notification_type, "daysLeft": left, "jobId": notice.job_id}


def _sources(events: list[WebhookEvent]) -> tuple[dict, dict]:
    """The rows the events without Data are read from: the revoke job's RevokedAccess rows
    by request id, and the notification job's reminders by (request id, job id). Two queries."""
    revoked = [e.request_id for e in events if e.type == REVOKED and e.request_id]
    revocations = {
        r.request_id: r
        for r in RevokedAccess.objects.filter(request_id__in=revoked).select_related("request")
    }
    expiring = [e for e in events if e.type == EXPIRING and e.data is None and e.request_id]
    notices = {}
    if expiring:
        rows = ExpiryNotification.objects.filter(
            request_id__in={e.request_id for e in expiring}, job_id__in={e.job_id for e in expiring}
        ).exclude(notification_type=ACCESS_ENDED)
        notices = {(n.request_id, n.job_id): n for n in rows.select_related("request")}
    return revocations, notices


def event_bodies(events: list[WebhookEvent]) -> dict[int, str]:
    """The JSON body of each event, by event id: {"type", "timestamp", "data"}. The jobs'
    events (Data NULL) take their data from their RevokedAccess row or their reminder's
    ExpiryNotification row: two queries."""
    revocations, notices = _sources(events)
    bodies = {}
    for event in events:
        data = dict(event.data or {})
        if event.type == REVOKED and event.request_id in revocations:
            revocation = revocations[event.request_id]
            data = {**request_data(revocation.request), "reason": None, **data, **revocation_data(revocation)}
        elif event.type == EXPIRING and event.data is None and (event.request_id, event.job_id) in notices:
            notice = notices[(event.request_id, event.job_id)]
            data = {**request_data(notice.request), **notice_data(notice)}
        body = {"type": event.type, "timestamp": _time(event.created_at), "data": data}
        bodies[event.id] = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return bodies
