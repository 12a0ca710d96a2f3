"""The revoke job: mark every Active request whose expiry has passed Revoked and record each
in RevokedAccess, the audit trail and the webhook outbox, in chunks of ids (REVOKE_CHUNK_SIZE, or
the database's own size), each chunk one fenced transaction.
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


def revoke_chunk_ids(dialect) -> int:
    """Ids per chunk: REVOKE_CHUNK_SIZE, or when 0 the database's own size (large on
    PostgreSQL, whose chunk is one array parameter), at most what one statement may carry
    elsewhere (its ids plus 4 parameters: under SQL Server's 2,100)."""
    size = settings.REVOKE_CHUNK_SIZE or dialect.revoke_chunk_ids
    if dialect.revoke_in_one_statement:
        return size
    return min(size, dialect.max_parameters - 4)


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
    """The access_request.revoked outbox events of the UserAccessRequest `ids` (those the
    chunk revoked), one INSERT … SELECT; events written."""
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revoke_events_insert_sql(len(ids)), [REVOKED, job_id, *ids])
        return cursor.rowcount


def revocation_events_insert(*, ids: list[int], revoked_at: datetime, job_id: str) -> int:
    """The audit trail's "Revoked" event of each request of `ids` (those the chunk revoked),
    one INSERT … SELECT; rows written."""
    params = [
        connection.ops.adapt_datetimefield_value(revoked_at),
        REVOKED_BY_JOB,
        job_id,
        EXPIRED_REASON,
        *ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revocation_events_insert_sql(len(ids)), params)
        return cursor.rowcount


def _revoke_in_one_statement(*, ids, revoked_at, job_id, audit: bool, outbox: bool) -> tuple[int, ...]:
    dialect = dialect_for()
    params = [list(ids), connection.ops.adapt_datetimefield_value(revoked_at), REVOKED_BY_JOB, job_id]
    params += [EXPIRED_REASON] if audit else []
    params += [REVOKED] if outbox else []
    with connection.cursor() as cursor:
        cursor.execute(dialect.revoke_chunk_sql(audit=audit, outbox=outbox), params)
        return tuple(cursor.fetchone())


def _revoke_in_statements(*, ids, revoked_at, job_id, audit: bool, outbox: bool) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(dialect_for().revoke_update_sql(len(ids)), list(ids))
        revoked = sorted(row[0] for row in cursor.fetchall())
    if not revoked:
        return (0, 0, 0, 0)  # revoked or changed by someone else since they were collected
    recorded = revocations_insert(ids=revoked, revoked_at=revoked_at, job_id=job_id)
    if recorded != len(revoked):  # stop before writing events for it
        return (len(revoked), recorded, 0, 0)
    audited = revocation_events_insert(ids=revoked, revoked_at=revoked_at, job_id=job_id) if audit else 0
    announced = revoke_events_insert(ids=revoked, job_id=job_id) if outbox else 0
    return (len(revoked), recorded, audited, announced)


def revoke_chunk(
    *, ids: list[int], revoked_at: datetime, job_id: str, audit: bool = True, outbox: bool = True
) -> int:
    """Revoke the still-Active requests of `ids`, record each in RevokedAccess, the audit
    trail and the webhook outbox; how many. Call inside a transaction (the chunk's): all of
    it happens or none. PostgreSQL does it in one statement, the others in four. `audit` /
    `outbox` False leave those rows out (the bench's baselines only).

    Raises RevokeMismatch when the counts differ."""
    write = _revoke_in_one_statement if dialect_for().revoke_in_one_statement else _revoke_in_statements
    revoked, recorded, audited, announced = write(
        ids=ids, revoked_at=revoked_at, job_id=job_id, audit=audit, outbox=outbox
    )
    if recorded != revoked:
        raise RevokeMismatch(f"revoked {revoked} requests but recorded {recorded}; rolled back")
    if audit and audited != recorded:
        raise RevokeMismatch(f"recorded {recorded} revocations but {audited} audit events; rolled back")
    if outbox and announced != recorded:
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
    for chunk in _chunks(ids, revoke_chunk_ids(dialect_for())):
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
