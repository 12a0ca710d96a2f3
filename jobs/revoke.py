"""The revoke job: mark every Active request whose expiry has passed Revoked and record each
in RevokedAccess, in chunks of REVOKE_CHUNK_SIZE ids, each chunk one fenced transaction.
`revoke_expired_run` serves the page, the API and `manage.py run_revoke`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from accessmgr.db import db_now
from jobs.dialects import dialect_for
from jobs.lock import JobLock
from jobs.models import RevokeExpiredJobRun
from jobs.runner import job_run
from requests_app.models import REVOKED_BY_JOB
from requests_app.selectors import access_request_expired
from webhooks.models import REVOKED
from webhooks.trigger import deliveries_soon

EXPIRED_REASON = "Expired"  # the Reason of the job's "Revoked" audit events
# A chunk's statements carry its ids plus 3 parameters: under SQL Server's 2,100 at any setting.
MAX_CHUNK_IDS = 2000


@dataclass(frozen=True)
class RevokeResult:
    job_id: str
    revoked_count: int
    revoked_at: datetime | None  # the database time the run revoked at; None if nothing had expired

    @property
    def message(self) -> str:
        if self.revoked_at is None:
            return "No expired requests found to revoke."
        plural = "" if self.revoked_count == 1 else "s"
        return f"Revoked {self.revoked_count} expired access request{plural}."


class RevokeMismatch(Exception):
    """A chunk revoked a different number of requests than it recorded (rolled back)."""


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def revocations_insert(*, ids: list[int], revoked_at: datetime, job_id: str) -> int:
    """RevokedAccess rows for the UserAccessRequest `ids`, one INSERT … SELECT; rows written."""
    params = [connection.ops.adapt_datetimefield_value(revoked_at), REVOKED_BY_JOB, job_id, *ids]
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revocations_insert_sql(len(ids)), params)
        return cursor.rowcount


def revoke_events_insert(*, ids: list[int], job_id: str) -> int:
    """The access_request.revoked outbox events of the RevokedAccess rows run `job_id` wrote
    for the UserAccessRequest `ids`, one INSERT … SELECT; events written."""
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revoke_events_insert_sql(len(ids)), [REVOKED, job_id, *ids])
        return cursor.rowcount


def revocation_events_insert(*, ids: list[int], job_id: str) -> int:
    """The audit trail's "Revoked" event of each request of `ids` this run recorded in
    RevokedAccess, one INSERT … SELECT; rows written."""
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revocation_events_insert_sql(len(ids)), [EXPIRED_REASON, job_id, *ids])
        return cursor.rowcount


def _revoke_and_record(*, ids: list[int], revoked_at: datetime, job_id: str) -> int:
    dialect = dialect_for()
    if dialect.revoke_in_one_statement:
        params = [list(ids), connection.ops.adapt_datetimefield_value(revoked_at), REVOKED_BY_JOB, job_id]
        with connection.cursor() as cursor:
            cursor.execute(dialect.revoke_chunk_sql(), params)
            return cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute(dialect.revoke_update_sql(len(ids)), list(ids))
        revoked = sorted(row[0] for row in cursor.fetchall())
    if not revoked:
        return 0  # revoked or changed by someone else since they were collected
    recorded = revocations_insert(ids=revoked, revoked_at=revoked_at, job_id=job_id)
    if recorded != len(revoked):
        raise RevokeMismatch(f"revoked {len(revoked)} requests but recorded {recorded}; rolled back")
    return recorded


def revoke_chunk(*, ids: list[int], revoked_at: datetime, job_id: str) -> int:
    """Revoke the still-Active requests of `ids`, record each in RevokedAccess, the audit
    trail and the webhook outbox; how many. Call inside a transaction (the chunk's): all of
    it happens or none.

    Raises RevokeMismatch when the counts differ."""
    recorded = _revoke_and_record(ids=ids, revoked_at=revoked_at, job_id=job_id)
    if not recorded:
        return 0
    revocation_events_insert(ids=ids, job_id=job_id)
    if (announced := revoke_events_insert(ids=ids, job_id=job_id)) != recorded:
        raise RevokeMismatch(f"recorded {recorded} revocations but {announced} events; rolled back")
    return recorded


def _revoke(lock: JobLock) -> RevokeResult:
    lock.counts["revoked_count"] = 0
    lock.wait(settings.REVOKE_DELAY_SECONDS)
    lock.fence()  # lost during the delay: stop before reading anything
    now = db_now()
    ids = list(access_request_expired(now=now).order_by("id").values_list("id", flat=True))
    if not ids:
        return RevokeResult(job_id=lock.job_id, revoked_count=0, revoked_at=None)
    lock.progress(processed=0, total=len(ids))
    processed = 0
    for chunk in _chunks(ids, min(settings.REVOKE_CHUNK_SIZE, MAX_CHUNK_IDS)):
        processed += len(chunk)
        with transaction.atomic():
            lock.fence(processed=processed, total=len(ids))  # the progress commits with the chunk
            revoked = revoke_chunk(ids=chunk, revoked_at=now, job_id=lock.job_id)
        lock.counts["revoked_count"] += revoked
    return RevokeResult(job_id=lock.job_id, revoked_count=lock.counts["revoked_count"], revoked_at=now)


def revoke_expired_run(*, triggered_by: str, record_refusal: bool = True) -> RevokeResult:
    """Run the revoke job once; its access_request.revoked events are then delivered
    (webhooks.trigger). Raises LockHeld or JobFailed (jobs.runner)."""
    result = job_run(
        job=RevokeExpiredJobRun, triggered_by=triggered_by, work=_revoke, record_refusal=record_refusal
    )
    if result.revoked_count:
        deliveries_soon()
    return result
