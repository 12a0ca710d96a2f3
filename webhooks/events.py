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

from accessmgr.db import db_datetime
from jobs.dialects import dialect_for
from requests_app.models import RevokedAccess, UserAccessRequest
from webhooks.models import EVENT_TYPES, REVOKED, TEST, WebhookDelivery, WebhookEndpoint, WebhookEvent
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
    return events_record(type=type, data=[(request, data or {})])[0]


def events_record(*, type: str, data: list[tuple[UserAccessRequest, dict]]) -> list[WebhookEvent]:
    """event_record for many requests at once, one INSERT: an event of `type` per
    (request, extras) pair, in their order (the notification job's recorder announces a batch
    of reminders). Same rules and errors as event_record; an empty list writes nothing."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; expected one of {', '.join(EVENT_TYPES)}")
    if not connection.in_atomic_block:
        raise RuntimeError("event_record must be called inside the transaction of the change it announces")
    if not data:
        return []
    deliveries_after_commit()
    now = RawSQL(dialect_for().now, [])
    return WebhookEvent.objects.bulk_create(
        WebhookEvent(
            type=type,
            request_id=request.request_id,
            data={**request_data(request), **extras},
            created_at=now,
        )
        for request, extras in data
    )


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


def event_bodies(events: list[WebhookEvent]) -> dict[int, str]:
    """The JSON body of each event, by event id: {"type", "timestamp", "data"}. The revoke
    job's events (Data NULL) take their data from their RevokedAccess row: one query."""
    missing = [e.request_id for e in events if e.type == REVOKED and e.request_id]
    revocations = {
        r.request_id: r
        for r in RevokedAccess.objects.filter(request_id__in=missing).select_related("request")
    }
    bodies = {}
    for event in events:
        data = dict(event.data or {})
        if event.type == REVOKED and event.request_id in revocations:
            revocation = revocations[event.request_id]
            data = {**request_data(revocation.request), "reason": None, **data, **revocation_data(revocation)}
        body = {"type": event.type, "timestamp": _time(event.created_at), "data": data}
        bodies[event.id] = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return bodies
