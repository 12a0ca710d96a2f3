"""Every vendor-specific SQL string of accessmgr, and nothing else.

Each database says "now, in UTC" and "N seconds ago" in its own words, quotes names its
own way, and the lock's NOT EXISTS insert needs a table hint on SQL Server. Times always
come from the database's clock, never the app server's: servers behind a load balancer
disagree. The T-SQL variants are checked offline with sqlglot's tsql dialect (no SQL
Server runs here); %s is the DB-API placeholder, which mssql-django turns into ?.
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections


@dataclass(frozen=True)
class Dialect:
    vendor: str
    now: str  # current UTC time, as the backend stores datetimes
    ago: str  # the UTC time %s seconds ago (one parameter: seconds as a number)
    lock_hint: str = ""  # table hint on the NOT EXISTS probe of the lock insert
    quote_open: str = '"'
    quote_close: str = '"'

    def quote(self, name: str) -> str:
        """A column or table name, quoted the way this database quotes identifiers."""
        return f"{self.quote_open}{name}{self.quote_close}"

    def acquire_sql(self, table: str) -> str:
        """Insert the InProgress row only when none exists (`table` already quoted).

        The NOT EXISTS alone is not exclusive under READ COMMITTED (two callers can
        both see no row and both insert); the filtered unique index on
        Status='InProgress' makes it so, and the caller treats a unique violation as
        "held". Stale rows are marked Abandoned before this runs, in the same
        transaction. Parameters: job id, started by, triggered by."""
        q = self.quote
        return (
            f"INSERT INTO {table} ({q('Job_Id')}, {q('Status')}, {q('Started_At')}, "
            f"{q('Heartbeat_At')}, {q('Started_By')}, {q('Triggered_By')}) "
            f"SELECT %s, 'InProgress', {self.now}, {self.now}, %s, %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table}{self.lock_hint} "
            f"WHERE {q('Status')} = 'InProgress')"
        )

    def live_run_sql(self, table: str) -> str:
        """The run holding the lock: the InProgress row (the unique index allows one) that
        has beaten within the stale limit; a row without Heartbeat_At (the seed's) counts
        from Started_At. The pages poll this every few seconds per open tab, so it is one
        plain statement rather than an ORM query built each time. Parameter: stale seconds."""
        q = self.quote
        return (
            f"SELECT * FROM {table} WHERE {q('Status')} = 'InProgress' "
            f"AND COALESCE({q('Heartbeat_At')}, {q('Started_At')}) >= {self.ago}"
        )


# statement_timestamp(), not now(): now() is frozen at the start of the transaction.
POSTGRESQL = Dialect(
    vendor="postgresql",
    now="statement_timestamp()",
    ago="(statement_timestamp() - make_interval(secs => %s))",
)

# Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text in UTC, which
# compares correctly as a string with strftime's '%Y-%m-%d %H:%M:%f'. (%% because the
# strings go through Django's cursor, which turns %s into ? and %% into %.)
SQLITE = Dialect(
    vendor="sqlite",
    now="strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')",
    ago="strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday('now') - %s / 86400.0)",
)

# SYSUTCDATETIME() is UTC whatever the server's time zone (GETDATE() is not).
# UPDLOCK, HOLDLOCK make the NOT EXISTS probe take a key-range lock, so SQL Server
# serialises competing inserts even before the filtered index decides.
MICROSOFT = Dialect(
    vendor="microsoft",
    now="SYSUTCDATETIME()",
    ago="DATEADD(millisecond, -CAST(%s * 1000 AS int), SYSUTCDATETIME())",
    lock_hint=" WITH (UPDLOCK, HOLDLOCK)",
    quote_open="[",
    quote_close="]",
)

DIALECTS = {d.vendor: d for d in (POSTGRESQL, SQLITE, MICROSOFT)}


def revocations_insert_sql(*, count: int, quote: Callable[[str], str] | None = None) -> str:
    """The RevokedAccess rows of one revoke chunk in ONE statement, no Python per row:
    INSERT … SELECT the Request_Id of `count` UserAccessRequest ids, each with the same
    Revoked_Dt, Revoked_By and Job_Id. Standard SQL on SQLite, PostgreSQL and T-SQL; only the
    quoting differs: `quote` is the connection's ops.quote_name (default: the default
    connection's). Parameters: revoked at (through ops.adapt_datetimefield_value), revoked
    by, job id, then the `count` ids (keep count + 3 far below SQL Server's 2,100)."""
    if count < 1:
        raise ValueError("revocations_insert_sql needs at least one id")
    q = quote or connections["default"].ops.quote_name
    ids = ", ".join(["%s"] * count)
    return (
        f"INSERT INTO {q('RevokedAccess')} ({q('Request_Id')}, {q('Revoked_Dt')}, {q('Revoked_By')}, "
        f"{q('Job_Id')}) SELECT {q('Request_Id')}, %s, %s, %s FROM {q('UserAccessRequest')} "
        f"WHERE {q('Id')} IN ({ids})"
    )


def revocations_update_insert_sql(*, vendor: str, quote: Callable[[str], str] | None = None) -> str | None:
    """One revoke chunk in ONE statement where the database has one, else None (the caller
    then sends its UPDATE and revocations_insert_sql, two statements in one transaction).

    PostgreSQL: a data-modifying CTE. The UPDATE marks the still-Active rows of the ids
    Revoked (taking their row locks itself: no SELECT … FOR UPDATE pass before it) and
    RETURNING feeds exactly the rows it changed to the INSERT, so the statement's rowcount
    is both the revoked and the recorded count. Parameters: the ids as ONE list (psycopg
    adapts it to an array), then revoked at (through ops.adapt_datetimefield_value),
    revoked by, job id.

    SQL Server has no such statement here: UPDATE … OUTPUT … INTO [RevokedAccess] (and
    INSERT … SELECT FROM (UPDATE … OUTPUT)) is refused because the target of OUTPUT INTO
    may not be on either side of a FOREIGN KEY, and RevokedAccess.Request_Id references
    UserAccessRequest. SQLite has no data-modifying CTE."""
    if vendor != "postgresql":
        return None
    q = quote or connections["default"].ops.quote_name
    return (
        f"WITH revoked AS (UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked' "
        f"WHERE {q('Id')} = ANY(%s) AND {q('Status')} = 'Active' RETURNING {q('Request_Id')}) "
        f"INSERT INTO {q('RevokedAccess')} ({q('Request_Id')}, {q('Revoked_Dt')}, {q('Revoked_By')}, "
        f"{q('Job_Id')}) SELECT {q('Request_Id')}, %s, %s, %s FROM revoked"
    )


def revocations_update_returning_sql(
    *, vendor: str, count: int, quote: Callable[[str], str] | None = None
) -> str | None:
    """Mark the still-Active rows of `count` ids Revoked and return the "Id" of each row it
    changed: UPDATE … RETURNING, so the caller needs no SELECT (FOR UPDATE) pass first and
    records exactly the returned ids (revocations_insert_sql). Parameters: the `count` ids.

    SQLite from 3.35 (Django supports older: the caller then SELECTs, then UPDATEs) and
    PostgreSQL (which normally uses revocations_update_insert_sql instead); None on SQL
    Server, which says it differently (OUTPUT inserted.[Id]) and keeps its SELECT and UPDATE."""
    if count < 1:
        raise ValueError("revocations_update_returning_sql needs at least one id")
    if vendor == "microsoft" or (vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0)):
        return None
    q = quote or connections["default"].ops.quote_name
    ids = ", ".join(["%s"] * count)
    return (
        f"UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked' "
        f"WHERE {q('Id')} IN ({ids}) AND {q('Status')} = 'Active' RETURNING {q('Id')}"
    )


def notification_insert_sql(*, vendor: str, quote: Callable[[str], str] | None = None) -> str:
    """Record one sent notice and return its Sent_At, as the database clock set it, in
    ONE statement, so the job's result needs no read-back of thousands of rows afterwards.
    RETURNING on PostgreSQL and SQLite (from 3.35), OUTPUT INSERTED on SQL Server (allowed
    there: no INTO, no trigger on the table); older SQLite gets the plain INSERT and the
    caller reads Sent_At back by its unique key.
    Parameters: request id, notification type, sent to, job id, the expiry it was about
    (through ops.adapt_datetimefield_value)."""
    dialect = DIALECTS[vendor]
    q = quote or connections["default"].ops.quote_name
    names = ("Request_Id", "Notification_Type", "Sent_At", "Sent_To", "Job_Id", "Expires_On")
    columns = ", ".join(q(c) for c in names)
    insert = f"INSERT INTO {q('ExpiryNotification')} ({columns})"
    values = f"VALUES (%s, %s, {dialect.now}, %s, %s, %s)"
    if vendor == "microsoft":
        return f"{insert} OUTPUT INSERTED.{q('Sent_At')} {values}"
    if vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        return f"{insert} {values}"
    return f"{insert} {values} RETURNING {q('Sent_At')}"


EVENT_COLUMNS = ("Request_Id", "Event_Type", "Occurred_At", "Actor", "Job_Id", "Reason", "Detail")


def access_event_insert_sql(*, vendor: str, quote: Callable[[str], str] | None = None) -> str:
    """Append one audit event (AccessEvent) at the database clock's now. Standard SQL;
    only the quoting and the clock differ. Parameters: request id, event type, actor,
    job id, reason, detail."""
    dialect = DIALECTS[vendor]
    q = quote or connections["default"].ops.quote_name
    columns = ", ".join(q(c) for c in EVENT_COLUMNS)
    return f"INSERT INTO {q('AccessEvent')} ({columns}) VALUES (%s, %s, {dialect.now}, %s, %s, %s, %s)"


def revocation_events_insert_sql(*, count: int, quote: Callable[[str], str] | None = None) -> str:
    """The "Revoked" audit events of one revoke chunk in ONE statement: INSERT … SELECT from
    the RevokedAccess rows this run (its Job_Id) recorded for `count` UserAccessRequest ids,
    so a request revoked by hand meanwhile (no Job_Id, or another run's) gets no second
    event. Occurred_At and Actor are the RevokedAccess row's Revoked_Dt and Revoked_By.
    Standard SQL on SQLite, PostgreSQL and T-SQL. Parameters: reason, job id, then the
    `count` ids (keep count + 2 far below SQL Server's 2,100)."""
    if count < 1:
        raise ValueError("revocation_events_insert_sql needs at least one id")
    q = quote or connections["default"].ops.quote_name
    ids = ", ".join(["%s"] * count)
    columns = ", ".join(q(c) for c in EVENT_COLUMNS)
    return (
        f"INSERT INTO {q('AccessEvent')} ({columns}) "
        f"SELECT ra.{q('Request_Id')}, 'Revoked', ra.{q('Revoked_Dt')}, ra.{q('Revoked_By')}, "
        f"ra.{q('Job_Id')}, %s, '' FROM {q('RevokedAccess')} ra "
        f"INNER JOIN {q('UserAccessRequest')} u ON u.{q('Request_Id')} = ra.{q('Request_Id')} "
        f"WHERE ra.{q('Job_Id')} = %s AND u.{q('Id')} IN ({ids})"
    )


def dialect_for(using: str = "default") -> Dialect:
    vendor = connections[using].vendor
    try:
        return DIALECTS[vendor]
    except KeyError:
        raise NotImplementedError(f"accessmgr has no SQL for the {vendor!r} database backend") from None
