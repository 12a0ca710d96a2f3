"""Rows for tests, one factory per model: access requests (with reminders or a revocation),
job runs, held locks and users. Times are relative to the database's clock unless given;
every call gets fresh unique Request_Ids and jobIds."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.auth.models import Permission, User

from accessmgr.db import db_now
from jobs.lock import JobLock, lock_acquire
from jobs.models import JobRun
from requests_app.models import NEVER_EXPIRES, ExpiryNotification, RevokedAccess, UserAccessRequest

PASSWORD = "correct horse battery"
_ids = itertools.count(1)


def _request(
    *, now: datetime, expires_in: timedelta | None, created_ago: timedelta, **fields
) -> UserAccessRequest:
    n = next(_ids)
    values = {
        "request_id": f"REQ-TEST-{n:06d}",
        "requestor_name": f"Person {n}",
        "requestor_email": f"person{n}@example.com",
        "resource_name": "Production database",
        "status": UserAccessRequest.Status.ACTIVE,
        "created_at": now - created_ago,
        "expires_on": NEVER_EXPIRES if expires_in is None else now + expires_in,
        **fields,
    }
    return UserAccessRequest(**values)


def request_make(
    *,
    expires_in: timedelta | None = timedelta(days=30),
    created_ago: timedelta = timedelta(0),
    reminders: int = 0,
    **fields,
) -> UserAccessRequest:
    """One request expiring `expires_in` from now (negative: already expired; None: never;
    or give expires_on=), with its first `reminders` reminders (30-Day, 7-Day, 1-Day) recorded."""
    obj = _request(now=db_now(), expires_in=expires_in, created_ago=created_ago, **fields)
    obj.save()
    for days in [30, 7, 1][:reminders]:
        ExpiryNotification.objects.create(
            request=obj,
            notification_type=f"{days}-Day Reminder",
            sent_at=db_now() - timedelta(days=1),
            sent_to=obj.requestor_email,
        )
    return obj


def requests_make(
    n: int, *, expires_in: timedelta | None = timedelta(days=30), created_ago=timedelta(days=60), **fields
) -> list[UserAccessRequest]:
    """n requests in one bulk insert, as request_make makes them (without reminders)."""
    now = db_now()
    rows = [_request(now=now, expires_in=expires_in, created_ago=created_ago, **fields) for _ in range(n)]
    return UserAccessRequest.objects.bulk_create(rows, batch_size=1000)


def revocation_make(obj: UserAccessRequest, *, by: str = "System - Scheduled Expiry Job") -> RevokedAccess:
    """Revoke `obj` as the revoke job does: Status Revoked and its RevokedAccess row."""
    obj.status = UserAccessRequest.Status.REVOKED
    obj.save(update_fields=["status"])
    return RevokedAccess.objects.create(request=obj, revoked_dt=db_now(), revoked_by=by, job_id="job-1")


def run_make(
    job: type[JobRun],
    *,
    status: str = "Completed",
    started_at: datetime | None = None,
    seconds: float = 5.0,
    **fields,
) -> JobRun:
    """A row of a job's run table written by hand (not through the lock): started at
    `started_at` (default: now), its heartbeat then, ended `seconds` later unless InProgress."""
    started = db_now() if started_at is None else started_at
    values = {
        "job_id": str(uuid.uuid4()),
        "status": status,
        "started_at": started,
        "heartbeat_at": started,
        "completed_at": None if status == JobRun.Status.IN_PROGRESS else started + timedelta(seconds=seconds),
        "started_by": "web-1:4242",
        "triggered_by": "olivia",
        **fields,
    }
    return job.objects.create(**values)


@contextmanager
def lock_held(job: type[JobRun], *, triggered_by: str = "someone", **kwargs) -> Iterator[JobLock]:
    """Hold the job's lock (a real lock_acquire; kwargs: started_by) for the with block,
    then release it Completed, if the block did not release it itself."""
    lock = lock_acquire(job=job, triggered_by=triggered_by, **kwargs)
    try:
        yield lock
    finally:
        lock.release(status="Completed")


def lock_stop_beating(lock: JobLock, *, seconds_ago: float) -> None:
    """As if the run's server died `seconds_ago`: its row's last heartbeat then."""
    lock.job.objects.filter(job_id=lock.job_id).update(heartbeat_at=db_now() - timedelta(seconds=seconds_ago))


def expiry_in(days: int, now: datetime) -> datetime:
    """A moment whose UTC date is `days` after now's, still ahead of now when days is 0."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=days) + (now - midnight + timedelta(days=1)) / 2


def user_make(username: str, *, permissions: tuple[str, ...] = (), **fields) -> User:
    """A user with PASSWORD and the given permission codenames (e.g. "run_revoke_job",
    "view_all_requests", "create_for_others")."""
    user = User.objects.create_user(
        username, fields.pop("email", f"{username}@example.com"), PASSWORD, **fields
    )
    if permissions:
        user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    return user
