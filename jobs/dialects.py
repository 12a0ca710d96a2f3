"""Every vendor-specific SQL string of accessmgr, and nothing else.

Each database says "now, in UTC" and "N seconds ago" in its own words, quotes names its
own way, and the lock's NOT EXISTS insert needs a table hint on SQL Server. Times always
come from the database's clock, never the app server's: servers behind a load balancer
disagree. The T-SQL variants are checked offline with sqlglot's tsql dialect (no SQL
Server runs here); %s is the DB-API placeholder, which mssql-django turns into ?.
"""

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


def dialect_for(using: str = "default") -> Dialect:
    vendor = connections[using].vendor
    try:
        return DIALECTS[vendor]
    except KeyError:
        raise NotImplementedError(f"accessmgr has no SQL for the {vendor!r} database backend") from None
