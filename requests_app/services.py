"""Writes on access requests."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accessmgr.db import db_now
from requests_app.auth import CREATE_FOR_OTHERS_PERMISSION
from requests_app.models import NEVER_EXPIRES, AccessEvent, RevokedAccess, UserAccessRequest
from webhooks.events import event_record
from webhooks.models import CREATED, EXTENDED, REVOKED

logger = logging.getLogger("requests_app.services")

# The seed's test durations (1, 5, 29 days) and the usual ones.
DURATION_DAYS = (1, 5, 29, 30, 90, 180, 365)
NEVER = "never"
CUSTOM = "custom"
DURATIONS = tuple(str(d) for d in DURATION_DAYS) + (NEVER, CUSTOM)
# A custom date must leave room below the "never" sentinel (9999-12-31).
CUSTOM_DATE_MAX = date(9999, 12, 30)
REASON_MAX_LENGTH = AccessEvent._meta.get_field("reason").max_length


class AccessRequestNotActive(Exception):
    """Extend or revoke asked of a request that is no longer Active; the text is for the user."""

    def __init__(self, access_request: UserAccessRequest):
        self.access_request = access_request
        super().__init__(
            f"Request {access_request.request_id} is {access_request.status}: only Active requests can change."
        )


class AccountHasNoEmail(Exception):
    """A user who may only request for themself has no email address on their account."""

    def __init__(self):
        super().__init__(
            "Your account has no email address, so no request can be made for you. "
            "Ask an administrator to add one."
        )


def custom_date_start(value: date) -> datetime:
    """A custom expiry date means the start of that day in the display time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(value, time.min), timezone.get_current_timezone())


def custom_date_expires_on(value: date, *, now: datetime) -> datetime:
    """Expires_On for a custom date: the start of that day in TIME_ZONE. Raises ValueError
    (its message for the user) when that is not after `now` or is the "never" sentinel's day."""
    if value > CUSTOM_DATE_MAX:
        raise ValueError("For no expiry choose “Never expires”.")
    expires_on = custom_date_start(value)
    if expires_on <= now:
        raise ValueError("The expiry date must be in the future.")
    return expires_on


def access_request_expires_on(*, duration: str, custom_date: date | None, now: datetime) -> datetime:
    """Expires_On for a duration choice. Raises ValueError for an unknown duration,
    a missing custom date or one not in the future."""
    if duration == NEVER:
        return NEVER_EXPIRES
    if duration == CUSTOM:
        if custom_date is None:
            raise ValueError("A custom duration needs a date.")
        return custom_date_expires_on(custom_date, now=now)
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
    created_by: str = "",
    requester=None,
) -> UserAccessRequest:
    """Create an Active request owned by `requester` (a User, or None) and its "Created"
    event. Times come from the database clock.

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
            requester=requester,
        )
        obj.request_id = request_id_format(year=now.year, pk=obj.pk)
        UserAccessRequest.objects.filter(pk=obj.pk).update(request_id=obj.request_id)
        access_event_record(
            request_id=obj.request_id,
            event_type=AccessEvent.Type.CREATED,
            at=now,
            actor=created_by,
            new_expires_on=expires_on,
        )
        event_record(type=CREATED, request=obj)
    logger.info(
        "request created requestId=%s email=%s resource=%s expiresOn=%s",
        obj.request_id,
        requestor_email,
        resource_name,
        expires_on.isoformat(),
    )
    return obj


def access_request_create_by(
    *, user, requestor_name: str = "", requestor_email: str = "", **fields
) -> UserAccessRequest:
    """access_request_create on behalf of the logged-in `user`, who is the Created event's actor.

    With requests_app.create_for_others the request is for the name and email given, and
    belongs to the one active user with that email (any case), else to `user`. Without it,
    the name and email given are ignored: the request is for `user`'s own account and
    belongs to them. Raises AccountHasNoEmail (no email on that account), and what
    access_request_create raises."""
    if user.has_perm(CREATE_FOR_OTHERS_PERMISSION):
        matches = list(get_user_model().objects.filter(email__iexact=requestor_email, is_active=True)[:2])
        requester = matches[0] if len(matches) == 1 else user
    else:
        if not user.email:
            raise AccountHasNoEmail()
        requestor_name = (user.get_full_name() or user.get_username())[:200]
        requestor_email, requester = user.email, user
    return access_request_create(
        requestor_name=requestor_name,
        requestor_email=requestor_email,
        created_by=user.get_username(),
        requester=requester,
        **fields,
    )


def access_event_record(
    *,
    request_id: str,
    event_type: str,
    at: datetime,
    actor: str,
    job_id: str | None = None,
    reason: str = "",
    old_expires_on: datetime | None = None,
    new_expires_on: datetime | None = None,
    detail: str = "",
) -> AccessEvent:
    """Append one event to the audit trail. Call it inside the transaction of the change it
    records; `at` is a database-clock time."""
    return AccessEvent.objects.create(
        request_id=request_id,
        event_type=event_type,
        occurred_at=at,
        actor=actor[:200],
        job_id=job_id,
        reason=reason,
        old_expires_on=old_expires_on,
        new_expires_on=new_expires_on,
        detail=detail[:300],
    )


def _reason_clean(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give a reason.")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValueError(f"The reason may have at most {REASON_MAX_LENGTH} characters.")
    return reason


def _active_for_update(request_id: str) -> UserAccessRequest:
    obj = UserAccessRequest.objects.select_for_update().get(request_id=request_id)
    if obj.status != UserAccessRequest.Status.ACTIVE:
        raise AccessRequestNotActive(obj)
    return obj


def access_request_extend(
    *, request_id: str, duration: str, custom_date: date | None = None, reason: str, extended_by: str
) -> UserAccessRequest:
    """Give an Active request a new expiry (a duration from now, a custom date, or never)
    and record the "Extended" event with the old and new expiry, in one transaction.

    Raises UserAccessRequest.DoesNotExist, AccessRequestNotActive, or ValueError (an
    unknown duration, a date not in the future, a missing or too-long reason)."""
    reason = _reason_clean(reason)
    with transaction.atomic():
        now = db_now()
        expires_on = access_request_expires_on(duration=duration, custom_date=custom_date, now=now)
        obj = _active_for_update(request_id)
        old_expires_on = obj.expires_on
        UserAccessRequest.objects.filter(pk=obj.pk).update(expires_on=expires_on)
        obj.expires_on = expires_on
        access_event_record(
            request_id=obj.request_id,
            event_type=AccessEvent.Type.EXTENDED,
            at=now,
            actor=extended_by,
            reason=reason,
            old_expires_on=old_expires_on,
            new_expires_on=expires_on,
        )
        event_record(type=EXTENDED, request=obj, data={"reason": reason})
    logger.info(
        "request extended requestId=%s by=%s from=%s to=%s",
        request_id,
        extended_by,
        old_expires_on.isoformat(),
        expires_on.isoformat(),
    )
    return obj


def access_request_revoke(*, request_id: str, reason: str, revoked_by: str) -> UserAccessRequest:
    """Revoke an Active request now: Status 'Revoked', its RevokedAccess row (Revoked_By =
    `revoked_by`, no Job_Id) and the "Revoked" event, in one transaction.

    A revoke job running at the same time cannot revoke it too: the UPDATE is conditional
    on Status = 'Active' (whoever changes the row first wins; the other changes nothing),
    and the RevokedAccess unique key refuses a second row whatever happens.
    Raises UserAccessRequest.DoesNotExist, AccessRequestNotActive, or ValueError (reason)."""
    reason = _reason_clean(reason)
    with transaction.atomic():
        now = db_now()
        active = UserAccessRequest.objects.filter(
            request_id=request_id, status=UserAccessRequest.Status.ACTIVE
        )
        if not active.update(status=UserAccessRequest.Status.REVOKED):
            raise AccessRequestNotActive(UserAccessRequest.objects.get(request_id=request_id))
        RevokedAccess.objects.create(request_id=request_id, revoked_dt=now, revoked_by=revoked_by[:200])
        access_event_record(
            request_id=request_id,
            event_type=AccessEvent.Type.REVOKED,
            at=now,
            actor=revoked_by,
            reason=reason,
        )
        obj = UserAccessRequest.objects.select_related("revocation").get(request_id=request_id)
        event_record(type=REVOKED, request=obj, data={"reason": reason})
    logger.info("request revoked requestId=%s by=%s", request_id, revoked_by)
    return obj
