"""Every vendor-specific SQL string of accessmgr, each under a name, and nothing else.

`dialect_for()` gives the default connection's Dialect, quoting with its `ops.quote_name`.
Times always come from the database's clock. The T-SQL is checked offline with sqlglot
(tests/test_dialects.py); %s is the DB-API placeholder, which mssql-django turns into ?.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from django.db import connection as default_connection


def _placeholders(count: int) -> str:
    if count < 1:
        raise ValueError("a statement over ids needs at least one id")
    return ", ".join(["%s"] * count)


@dataclass(frozen=True)
class Dialect:
    vendor: str
    now: str  # current UTC time, as the backend stores datetimes
    ago: str  # the UTC time %s seconds ago (one parameter: seconds as a number)
    lock_hint: str = ""  # table hint on the NOT EXISTS probe of the lock insert
    output_inserted: bool = False  # returns columns with OUTPUT INSERTED.x, not RETURNING x
    revoke_in_one_statement: bool = False  # revoke_chunk_sql exists
    max_parameters: int = 2100  # the most parameters one statement may carry
    revoke_chunk_ids: int = 2000  # the revoke job's chunk when REVOKE_CHUNK_SIZE is not set
    share_lock: str = ""  # appended to a SELECT: lock the rows read until the transaction ends
    quote: Callable[[str], str] = str  # the connection's ops.quote_name (dialect_for binds it)

    def _returning(self, column: str) -> tuple[str, str]:
        """(OUTPUT clause, RETURNING clause) for one returned column; one of them is empty."""
        if self.output_inserted:
            return f" OUTPUT INSERTED.{self.quote(column)}", ""
        return "", f" RETURNING {self.quote(column)}"

    def acquire_sql(self, table: str) -> str:
        """Insert the InProgress row only when none exists. Exclusive only with the filtered
        unique index on Status='InProgress' (a violation means "held"). Parameters: job id,
        started by, triggered by."""
        q, t = self.quote, self.quote(table)
        return (
            f"INSERT INTO {t} ({q('Job_Id')}, {q('Status')}, {q('Started_At')}, "
            f"{q('Heartbeat_At')}, {q('Started_By')}, {q('Triggered_By')}) "
            f"SELECT %s, 'InProgress', {self.now}, {self.now}, %s, %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {t}{self.lock_hint} WHERE {q('Status')} = 'InProgress')"
        )

    def live_run_sql(self, table: str) -> str:
        """The InProgress row that has beaten within the stale limit (a row without
        Heartbeat_At counts from Started_At). Parameter: stale seconds."""
        q = self.quote
        return (
            f"SELECT * FROM {q(table)} WHERE {q('Status')} = 'InProgress' "
            f"AND COALESCE({q('Heartbeat_At')}, {q('Started_At')}) >= {self.ago}"
        )

    def revoke_update_sql(self, count: int) -> str:
        """Mark the still-Active rows of `count` ids Revoked and return the Id of each row it
        changed. Parameters: the ids."""
        q = self.quote
        output, returning = self._returning("Id")
        ids = _placeholders(count)
        return (
            f"UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked'{output} "
            f"WHERE {q('Id')} IN ({ids}) AND {q('Status')} = 'Active'{returning}"
        )

    def revocations_insert_sql(self, count: int) -> str:
        """The RevokedAccess rows of `count` UserAccessRequest ids, one INSERT … SELECT.
        Parameters: revoked at, revoked by, job id, then the ids."""
        q = self.quote
        ids = _placeholders(count)
        return (
            f"INSERT INTO {q('RevokedAccess')} ({q('Request_Id')}, {q('Revoked_Dt')}, {q('Revoked_By')}, "
            f"{q('Job_Id')}) SELECT {q('Request_Id')}, %s, %s, %s FROM {q('UserAccessRequest')} "
            f"WHERE {q('Id')} IN ({ids})"
        )

    def revoke_chunk_sql(self) -> str:
        """Revoke and record a chunk in ONE statement (where revoke_in_one_statement): the
        UPDATE's RETURNING feeds the INSERT, so its rowcount is both counts. Parameters: the
        ids as one list, revoked at, revoked by, job id."""
        if not self.revoke_in_one_statement:
            raise NotImplementedError(f"no one-statement revoke on {self.vendor}")
        q = self.quote
        return (
            f"WITH revoked AS (UPDATE {q('UserAccessRequest')} u SET {q('Status')} = 'Revoked' "
            f"FROM unnest(%s::integer[]) AS chunk (id) "
            f"WHERE u.{q('Id')} = chunk.id AND u.{q('Status')} = 'Active' RETURNING u.{q('Request_Id')}) "
            f"INSERT INTO {q('RevokedAccess')} ({q('Request_Id')}, {q('Revoked_Dt')}, {q('Revoked_By')}, "
            f"{q('Job_Id')}) SELECT {q('Request_Id')}, %s, %s, %s FROM revoked"
        )

    def notifications_record_sql(self, table: str, count: int) -> str:
        """Record `count` sent reminders in one statement, only while the run `table` row of
        the given Job_Id is still InProgress (the fence: it locks that row until the statement
        ends, so a taker's abandon waits for it), skipping reminders already recorded and
        requests that no longer exist. Returns Request_Id, Notification_Type and Sent_At of
        each row written. Parameters: per reminder request id, notification type, sent to,
        job id, message id; then the fence's job id."""
        q = self.quote
        columns = ("Request_Id", "Notification_Type", "Sent_At", "Sent_To", "Job_Id", "Message_Id")
        names = ", ".join(q(c) for c in columns)
        rows = ", ".join(["(%s, %s, %s, %s, %s)"] * count) if count > 0 else _placeholders(count)
        values = "v (c1, c2, c3, c4, c5)"
        fence = (
            f"EXISTS (SELECT 1 FROM {q(table)}{self.lock_hint} WHERE {q('Job_Id')} = %s "
            f"AND {q('Status')} = 'InProgress'{self.share_lock})"
        )
        select = (
            f"SELECT v.c1, v.c2, {self.now}, v.c3, v.c4, v.c5 FROM "
            + ("v" if not self.output_inserted else f"(VALUES {rows}) AS {values}")
            + f" JOIN {q('UserAccessRequest')} r ON r.{q('Request_Id')} = v.c1 WHERE {fence}"
        )
        target = f"INSERT INTO {q('ExpiryNotification')} ({names})"
        if self.output_inserted:  # SQL Server: no ON CONFLICT; NOT EXISTS under a key-range lock
            output = ", ".join(f"INSERTED.{q(c)}" for c in ("Request_Id", "Notification_Type", "Sent_At"))
            return (
                f"{target} OUTPUT {output} {select} AND NOT EXISTS (SELECT 1 FROM "
                f"{q('ExpiryNotification')} e{self.lock_hint} WHERE e.{q('Request_Id')} = v.c1 "
                f"AND e.{q('Notification_Type')} = v.c2)"
            )
        returning = ", ".join(q(c) for c in ("Request_Id", "Notification_Type", "Sent_At"))
        return (
            f"WITH {values} AS (VALUES {rows}) {target} {select} ON CONFLICT DO NOTHING RETURNING {returning}"
        )

    def statement_timeout_sql(self, seconds: float) -> str | None:
        """Bound every later statement of the current transaction to `seconds` (None where
        the database has no such setting: SQLite waits at most its busy timeout)."""
        milliseconds = max(1, round(seconds * 1000))
        if self.vendor == "postgresql":
            return f"SET LOCAL statement_timeout = {milliseconds}"
        if self.vendor == "microsoft":  # a session setting; a lock wait is where a statement hangs
            return f"SET LOCK_TIMEOUT {milliseconds}"
        return None

    def is_unique_violation(self, exc: Exception, *, table: str, column: str, constraint: str) -> bool:
        """Whether an IntegrityError is a violation of this unique constraint (on `column`)."""
        if self.vendor == "postgresql":
            diag = getattr(exc.__cause__, "diag", None)
            return getattr(diag, "constraint_name", None) == constraint
        if self.vendor == "sqlite":  # "UNIQUE constraint failed: Table.Column"
            return f"UNIQUE constraint failed: {table}.{column}" in str(exc)
        return f"'{constraint}'" in str(exc)  # SQL Server: "... with unique index 'name' ..."


# statement_timestamp(), not now(): now() is frozen at the start of the transaction.
POSTGRESQL = Dialect(
    vendor="postgresql",
    now="statement_timestamp()",
    ago="(statement_timestamp() - make_interval(secs => %s))",
    revoke_in_one_statement=True,
    max_parameters=65535,
    revoke_chunk_ids=20000,  # one array parameter, whatever the number of ids
    share_lock=" FOR SHARE",
)

# Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC text, which compares
# as a string with strftime's '%Y-%m-%d %H:%M:%f' (%% because Django's cursor %-formats).
SQLITE = Dialect(
    vendor="sqlite",
    now="strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')",
    ago="strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday('now') - %s / 86400.0)",
    max_parameters=32766,  # SQLITE_MAX_VARIABLE_NUMBER since 3.32
    revoke_chunk_ids=10000,
)

# SYSUTCDATETIME() is UTC whatever the server's zone. UPDLOCK, HOLDLOCK make the NOT EXISTS
# probe take a key-range lock. OUTPUT without INTO is allowed on tables with foreign keys.
MICROSOFT = Dialect(
    vendor="microsoft",
    now="SYSUTCDATETIME()",
    ago="DATEADD(millisecond, -CAST(%s * 1000 AS int), SYSUTCDATETIME())",
    lock_hint=" WITH (UPDLOCK, HOLDLOCK)",
    output_inserted=True,
)

DIALECTS = {d.vendor: d for d in (POSTGRESQL, SQLITE, MICROSOFT)}


def dialect_for(connection=default_connection) -> Dialect:
    """The Dialect of `connection` (default: Django's default connection).

    Raises NotImplementedError for a backend accessmgr has no SQL for, or a SQLite without
    RETURNING (before 3.35)."""
    try:
        dialect = DIALECTS[connection.vendor]
    except KeyError:
        raise NotImplementedError(
            f"accessmgr has no SQL for the {connection.vendor!r} database backend"
        ) from None
    if not connection.features.can_return_columns_from_insert:
        raise NotImplementedError(
            f"accessmgr needs RETURNING; this {connection.vendor} has none (SQLite ≥ 3.35)"
        )
    return replace(dialect, quote=connection.ops.quote_name)
