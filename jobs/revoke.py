"""Flow 2: revoke expired access. One function, `revoke_expired_run`, serves the page,
the API and the `run_revoke` command.

What it fixes in the seed's version:
- the ids are collected once, against the database clock, and exactly those ids are
  revoked (`WHERE Id IN (…) AND Status = 'Active'`): a row that expires between the
  SELECT and the UPDATE is left for the next run instead of being revoked unrecorded;
- the UPDATE and the RevokedAccess insert run in ONE transaction (per chunk), so a crash
  between them leaves nothing half-done;
- RevokedAccess rows are inserted set-based, no round trip and no Python work per row.
  On PostgreSQL each chunk is ONE statement (jobs.dialects.revocations_update_insert_sql):
  an UPDATE … RETURNING of the still-Active ids feeding the INSERT INTO RevokedAccess, so
  each row is written once (the UPDATE takes its row lock) and the revoked and recorded
  counts are the statement's rowcount by construction. SQLite (from 3.35) sends an
  UPDATE … RETURNING "Id" of the still-Active ids (its IMMEDIATE transaction already holds
  the write lock, so a SELECT pass first would only cost time), then one INSERT … SELECT
  of exactly the returned ids (jobs.dialects.revocations_insert_sql). SQL Server (where
  OUTPUT … INTO may not target RevokedAccess because of its FOREIGN KEY) and older SQLite
  send SELECT … FOR UPDATE of the still-Active ids, an UPDATE of exactly those, then the
  INSERT … SELECT. Outside the one statement, the counts must agree or the chunk rolls back.

The set is the one the Pending Expiry page shows (requests_app.selectors.access_request_expired),
taken at one database-clock instant. Large sets go in chunks of REVOKE_CHUNK_SIZE ids
(default 1000, at most MAX_CHUNK_IDS): each chunk is its own short transaction, and no
statement comes near SQL Server's 2,100-parameter limit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from accessmgr.db import db_now
from jobs.dialects import (
    revocation_events_insert_sql,
    revocations_insert_sql,
    revocations_update_insert_sql,
    revocations_update_returning_sql,
)
from jobs.lock import JobLock, lock_acquire
from jobs.models import JobRun, RevokeExpiredJobRun
from requests_app.models import UserAccessRequest
from requests_app.selectors import access_request_expired

logger = logging.getLogger("jobs.revoke")

REVOKED_BY = "System - Scheduled Expiry Job"
EXPIRED_REASON = "Expired"  # the Reason of the job's "Revoked" audit events
NOTHING_TO_REVOKE = "No expired requests found to revoke."
# A chunk's statements carry its ids plus at most 3 parameters: 2,000 keeps them under
# SQL Server's 2,100 whatever REVOKE_CHUNK_SIZE says.
MAX_CHUNK_IDS = 2000


class RevokeFailed(Exception):
    """The run started but did not finish; its row is Failed. Chunks committed before
    the failure stay revoked (each with its RevokedAccess rows): `revoked_count` says how many."""

    def __init__(self, *, job_id: str, error: str, revoked_count: int):
        self.job_id = job_id
        self.error = error
        self.revoked_count = revoked_count
        super().__init__(f"The revoke job failed: {error}")

    def as_dict(self) -> dict:
        return {"message": str(self), "jobId": self.job_id, "revokedCount": self.revoked_count}


class RevokeMismatch(Exception):
    """The UPDATE changed a different number of rows than the ones locked for it."""


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def revocations_insert(*, ids: list[int], revoked_at: datetime, job_id: str, update: bool = False) -> int:
    """Record the chunk's revocations set-based in ONE statement and return the rows recorded.

    update=False: INSERT … SELECT the Request_Id of the UserAccessRequest rows `ids` (those
    this transaction's UPDATE changed) into RevokedAccess.
    update=True (only where revocations_update_insert_sql has a statement: PostgreSQL): the
    same statement first marks the still-Active rows of `ids` Revoked and records exactly
    those, so the rows recorded are also the rows revoked.

    No model instance and no value prepared in Python per row. Tests patch this to inject
    a fault into the chunk's writes."""
    ops = connection.ops
    extra = [ops.adapt_datetimefield_value(revoked_at), REVOKED_BY, str(job_id)]
    if update:
        sql = revocations_update_insert_sql(vendor=connection.vendor, quote=ops.quote_name)
        if sql is None:
            raise NotImplementedError(f"no one-statement revoke on {connection.vendor}")
        params = [list(ids), *extra]
    else:
        sql = revocations_insert_sql(count=len(ids), quote=ops.quote_name)
        params = [*extra, *ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        recorded = cursor.rowcount
    revocation_events_insert(ids=ids, job_id=str(job_id))
    return recorded


def revocation_events_insert(*, ids: list[int], job_id: str) -> int:
    """The audit trail's "Revoked" event of each request of `ids` this run recorded in
    RevokedAccess, in ONE INSERT … SELECT (jobs.dialects.revocation_events_insert_sql).
    Call inside the chunk's transaction, after its RevokedAccess rows. Returns the rows written."""
    sql = revocation_events_insert_sql(count=len(ids), quote=connection.ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, [EXPIRED_REASON, job_id, *ids])
        return cursor.rowcount


# How a chunk is revoked (revoke_chunk_way).
ONE_STATEMENT = "one statement"  # PostgreSQL: UPDATE … RETURNING feeding the INSERT
UPDATE_RETURNING = "update returning"  # SQLite ≥ 3.35: UPDATE … RETURNING, then INSERT … SELECT
SELECT_FOR_UPDATE = "select for update"  # SQL Server, older SQLite: SELECT, UPDATE, INSERT … SELECT


def revoke_chunk_way() -> str:
    """How this database revokes a chunk: the fewest statements and passes it allows."""
    vendor, quote = connection.vendor, connection.ops.quote_name
    if revocations_update_insert_sql(vendor=vendor, quote=quote) is not None:
        return ONE_STATEMENT
    if revocations_update_returning_sql(vendor=vendor, count=1, quote=quote) is not None:
        return UPDATE_RETURNING
    return SELECT_FOR_UPDATE


def revocations_update_returning(*, ids: list[int]) -> list[int]:
    """Mark the still-Active rows of `ids` Revoked in one statement; the ids it changed."""
    ops = connection.ops
    sql = revocations_update_returning_sql(vendor=connection.vendor, count=len(ids), quote=ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, list(ids))
        return sorted(row[0] for row in cursor.fetchall())


def _revoke_chunk(*, lock: JobLock, ids: list[int], revoked_at: datetime, processed: int, total: int) -> int:
    """One transaction: fence, mark the chunk's still-Active rows Revoked, record exactly
    those. Returns how many were revoked.

    The fence records the progress ("`processed` of `total`", this chunk included), so
    the count shows exactly when the chunk commits (and rolls back with it)."""
    with transaction.atomic():
        lock.fence(processed=processed, total=total)
        way = revoke_chunk_way()
        if way == ONE_STATEMENT:
            # The UPDATE's RETURNING feeds the INSERT: revoked == recorded by construction.
            return revocations_insert(ids=ids, revoked_at=revoked_at, job_id=lock.job_id, update=True)
        active = UserAccessRequest.Status.ACTIVE
        if way == UPDATE_RETURNING:
            # SQLite's IMMEDIATE transaction already holds the write lock: no SELECT pass.
            locked = revocations_update_returning(ids=ids)
            updated = len(locked)
        else:
            locked = list(
                UserAccessRequest.objects.select_for_update()
                .filter(id__in=ids, status=active)
                .order_by("id")
                .values_list("id", flat=True)
            )
            updated = 0
            if locked:
                updated = UserAccessRequest.objects.filter(id__in=locked, status=active).update(
                    status=UserAccessRequest.Status.REVOKED
                )
        if not locked:
            return 0  # all revoked or changed by someone else since they were collected
        # updated == len(locked) means the UPDATE changed exactly the locked ids: those
        # are the ones recorded (checked again below, else everything rolls back).
        inserted = revocations_insert(ids=locked, revoked_at=revoked_at, job_id=lock.job_id)
        if not (updated == inserted == len(locked)):
            raise RevokeMismatch(
                f"revoked {updated} requests but recorded {inserted} (expected {len(locked)}); rolled back"
            )
    return updated


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM via jobs.lock.sigterm_as_interrupt
        return str(exc) or "Interrupted (Ctrl-C)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def revoke_expired_run(*, triggered_by: str, started_by: str | None = None) -> dict:
    """Run the revoke job under its lock and return {message, revokedCount, revokedAt, jobId}.

    Raises LockHeld (another run holds the lock; `.active_job` has its details) or
    RevokeFailed (this run failed; its row says Failed with the error)."""
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by=triggered_by, started_by=started_by)
    revoked = 0
    try:
        with lock:
            lock.wait(settings.REVOKE_DELAY_SECONDS)
            lock.fence()  # lost during the delay: stop before reading anything
            now = db_now()
            ids = list(access_request_expired(now=now).order_by("id").values_list("id", flat=True))
            total = len(ids)
            if total:
                lock.progress(processed=0, total=total)
                processed = 0
                for chunk in _chunks(ids, min(settings.REVOKE_CHUNK_SIZE, MAX_CHUNK_IDS)):
                    processed += len(chunk)
                    revoked += _revoke_chunk(
                        lock=lock, ids=chunk, revoked_at=now, processed=processed, total=total
                    )
    except BaseException as exc:  # also KeyboardInterrupt / SIGTERM: the row must not stay InProgress
        error = _error_text(exc)
        lock.release(status=JobRun.Status.FAILED, error=error, revoked_count=revoked)
        logger.exception("revoke failed jobId=%s revoked=%s", lock.job_id, revoked)
        if isinstance(exc, Exception):
            raise RevokeFailed(job_id=lock.job_id, error=error, revoked_count=revoked) from exc
        raise
    lock.release(status=JobRun.Status.COMPLETED, revoked_count=revoked)
    logger.info("revoke completed jobId=%s expired=%s revoked=%s", lock.job_id, total, revoked)
    if total == 0:
        return {"message": NOTHING_TO_REVOKE, "revokedCount": 0, "revokedAt": None, "jobId": lock.job_id}
    plural = "" if revoked == 1 else "s"
    return {
        "message": f"Revoked {revoked} expired access request{plural}.",
        "revokedCount": revoked,
        "revokedAt": now.isoformat(),
        "jobId": lock.job_id,
    }
