"""Writes on access requests."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accessmgr.db import db_now
from requests_app.models import NEVER_EXPIRES, UserAccessRequest
from webhooks.events import event_record
from webhooks.models import CREATED

logger = logging.getLogger("requests_app.services")

# The seed's test durations (1, 5, 29 days) and the usual ones.
DURATION_DAYS = (1, 5, 29, 30, 90, 180, 365)
NEVER = "never"
CUSTOM = "custom"
DURATIONS = tuple(str(d) for d in DURATION_DAYS) + (NEVER, CUSTOM)
# A custom date must leave room below the "never" sentinel (9999-12-31).
CUSTOM_DATE_MAX = date(9999, 12, 30)


def custom_date_start(value: date) -> datetime:
    """A custom expiry date means the start of that day in the display time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(value, time.min), timezone.get_current_timezone())


def access_request_expires_on(*, duration: str, custom_date: date | None, now: datetime) -> datetime:
    """Expires_On for a duration choice. Raises ValueError for an unknown duration,
    a missing custom date or one not in the future."""
    if duration == NEVER:
        return NEVER_EXPIRES
    if duration == CUSTOM:
        if custom_date is None:
            raise ValueError("A custom duration needs a date.")
        if custom_date > CUSTOM_DATE_MAX:
            raise ValueError("For no expiry choose “Never expires”.")
        expires_on = custom_date_start(custom_date)
        if expires_on <= now:
            raise ValueError("The expiry date must be in the future.")
        return expires_on
    if duration in DURATIONS:
        return now + timedelta(days=int(duration))
    raise ValueError(f"Unknown duration {duration!r}.")


def request_id_format(*, year: int, pk: int) -> str:
    return f"REQ-{year}-{pk:06d}"


def access_request_create(
    *,
    requestor_name: str,
    requestor_email: str,
    resource_name: str,
    justification: str = "",
    duration: str,
    custom_date: date | None = None,
) -> UserAccessRequest:
    """Create an Active request. Times come from the database clock.

    The Request_Id (REQ-<year>-<6 digits>) derives from the row's identity, so it is
    unique under any number of concurrent creators on every backend: the row is
    inserted with a unique placeholder and renamed in the same transaction, which also
    records its access_request.created webhook event.
    """
    now = db_now()
    expires_on = access_request_expires_on(duration=duration, custom_date=custom_date, now=now)
    with transaction.atomic():
        obj = UserAccessRequest.objects.create(
            request_id=f"PENDING-{uuid.uuid4().hex}",
            requestor_name=requestor_name,
            requestor_email=requestor_email,
            resource_name=resource_name,
            justification=justification,
            status=UserAccessRequest.Status.ACTIVE,
            created_at=now,
            expires_on=expires_on,
        )
        obj.request_id = request_id_format(year=now.year, pk=obj.pk)
        UserAccessRequest.objects.filter(pk=obj.pk).update(request_id=obj.request_id)
        event_record(type=CREATED, request=obj)
    logger.info(
        "request created requestId=%s email=%s resource=%s expiresOn=%s",
        obj.request_id,
        requestor_email,
        resource_name,
        expires_on.isoformat(),
    )
    return obj
