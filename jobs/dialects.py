"""Every vendor-specific SQL string of accessmgr, each under a name, and nothing else.

`dialect_for()` gives the default connection's Dialect, quoting with its `ops.quote_name`.
Times always come from the database's clock. The T-SQL is checked offline with sqlglot
(tests/test_dialects.py); %s is the DB-API placeholder, which mssql-django turns into ?.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from django.db import connection as default_connection

EVENT_COLUMNS = ("Request_Id", "Event_Type", "Occurred_At", "Actor", "Job_Id", "Reason", "Detail")
STATUSES = ("Active", "Revoked")  # UserAccessRequest.Status
STATUS_COUNTS = "RequestStatusCount"  # kept by the triggers of status_counts_install_statements
STATUS_COUNTS_TRIGGER = (
    "uar_status_count"  # the trigger's name (PostgreSQL: its function's; SQLite: a prefix)
)
SEARCH_COLUMNS = ("Request_Id", "Requestor_Email", "Requestor_Name", "Resource_Name")
SEARCH_TEXT = "UserAccessRequestSearch"  # PostgreSQL: the searched columns, upper-cased
SEARCH_TEXT_TRIGGER = "uar_search_text"  # its function's name, and its triggers' prefix
SEARCH_TEXT_INDEX = "uar_search_text_trgm_idx"  # GIN pg_trgm on SEARCH_TEXT's columns
REQUEST_SEARCH_INDEX = "uar_search_trgm_idx"  # migration 0004's, on UserAccessRequest itself


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
    share_lock: str = ""  # appended to a SELECT: lock the rows read until the transaction ends
    revoke_chunk_ids: int = 2000  # the revoke job's chunk when REVOKE_CHUNK_SIZE is 0
    concat: str = "||"  # string concatenation
    pattern_indexes: bool = False  # Django adds a LIKE-pattern twin to indexed varchar columns
    array_parameters: bool = False  # notice writes take one array per column, not a row of each
    search_text_table: bool = False  # the search reads SEARCH_TEXT (search_ids_sql)
    quote: Callable[[str], str] = str  # the connection's ops.quote_name (dialect_for binds it)

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
        changed. Parameters: the ids. SQL Server: a batch whose one result set is those ids,
        as OUTPUT without INTO is refused on a table with a trigger (RequestStatusCount's)."""
        q = self.quote
        ids = _placeholders(count)
        update = f"UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked'"
        where = f"WHERE {q('Id')} IN ({ids}) AND {q('Status')} = 'Active'"
        if self.output_inserted:
            return (
                f"SET NOCOUNT ON; DECLARE @revoked TABLE ({q('Id')} int NOT NULL); "
                f"{update} OUTPUT INSERTED.{q('Id')} INTO @revoked {where}; "
                f"SET NOCOUNT OFF; SELECT {q('Id')} FROM @revoked"
            )
        return f"{update} {where} RETURNING {q('Id')}"

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

    def revoke_events_insert_sql(self, count: int) -> str:
        """The outbox events of a revoke chunk: one per UserAccessRequest id of `count`, the
        ids the chunk's UPDATE revoked (read by primary key; Data NULL: read from the
        RevokedAccess row when sent). Parameters: event type, job id, then the ids."""
        q = self.quote
        ids = _placeholders(count)
        return (
            f"INSERT INTO {q('WebhookEvent')} ({q('Type')}, {q('Request_Id')}, {q('Job_Id')}, "
            f"{q('Created_At')}) SELECT %s, {q('Request_Id')}, %s, {self.now} "
            f"FROM {q('UserAccessRequest')} WHERE {q('Id')} IN ({ids})"
        )

    def revoke_chunk_sql(self, *, audit: bool = True, outbox: bool = True) -> str:
        """Revoke a chunk and write everything it records in ONE statement (where
        revoke_in_one_statement): the UPDATE's RETURNING feeds the RevokedAccess INSERT,
        whose RETURNING feeds the audit events and the outbox events. The ids are joined
        as unnest(array), so the plan is primary-key lookups whatever the statistics.
        Returns one row: revoked, recorded, audit events, outbox events (0 for a part
        switched off; only the bench switches them off). Parameters: the ids as one list,
        revoked at, revoked by, job id, then the audit reason (with `audit`) and the event
        type (with `outbox`)."""
        if not self.revoke_in_one_statement:
            raise NotImplementedError(f"no one-statement revoke on {self.vendor}")
        q = self.quote
        recorded = ", ".join(q(c) for c in ("Request_Id", "Revoked_Dt", "Revoked_By", "Job_Id"))
        parts = [
            f"revoked AS (UPDATE {q('UserAccessRequest')} u SET {q('Status')} = 'Revoked' "
            f"FROM unnest(%s::integer[]) AS chunk (id) "
            f"WHERE u.{q('Id')} = chunk.id AND u.{q('Status')} = 'Active' RETURNING u.{q('Request_Id')})",
            f"recorded AS (INSERT INTO {q('RevokedAccess')} ({recorded}) "
            f"SELECT {q('Request_Id')}, %s, %s, %s FROM revoked RETURNING {recorded})",
        ]
        counts = ["(SELECT COUNT(*) FROM revoked)", "(SELECT COUNT(*) FROM recorded)"]
        if audit:
            columns = ", ".join(q(c) for c in EVENT_COLUMNS)
            parts.append(
                f"audited AS (INSERT INTO {q('AccessEvent')} ({columns}) "
                f"SELECT {q('Request_Id')}, 'Revoked', {q('Revoked_Dt')}, {q('Revoked_By')}, "
                f"{q('Job_Id')}, %s, '' FROM recorded RETURNING 1)"
            )
        counts.append("(SELECT COUNT(*) FROM audited)" if audit else "0")
        if outbox:
            parts.append(
                f"announced AS (INSERT INTO {q('WebhookEvent')} ({q('Type')}, {q('Request_Id')}, "
                f"{q('Job_Id')}, {q('Created_At')}) "
                f"SELECT %s, {q('Request_Id')}, {q('Job_Id')}, {self.now} FROM recorded RETURNING 1)"
            )
        counts.append("(SELECT COUNT(*) FROM announced)" if outbox else "0")
        return f"WITH {', '.join(parts)} SELECT {', '.join(counts)}"

    def notifications_record_sql(self, table: str, count: int) -> str:
        """Record `count` sent notices in one statement, only while the row of run table
        `table` with the given Job_Id is still InProgress (the fence: on PostgreSQL it
        share-locks that row, on SQL Server it holds an update lock on it, until the
        transaction ends, so a taker's abandon waits for it), skipping notices already recorded
        (same request, type and expiry) and requests that no longer exist. Returns Id,
        Request_Id, Notification_Type and Sent_At of each row written. Parameters: per notice
        request id, notification type, sent to, job id, expires on, message id (where
        array_parameters: one list of each instead, the same whatever `count`); then the
        fence's job id."""
        return self._notices_insert(target="ExpiryNotification", stamp="Sent_At", table=table, count=count)

    def notifications_claim_sql(self, table: str, count: int) -> str:
        """Claim `count` notices before they are sent: NotificationClaim rows, written as
        notifications_record_sql writes ExpiryNotification rows (same fence, same parameters),
        skipping notices already claimed. Returns Id, Request_Id, Notification_Type and
        Claimed_At of each claim written."""
        return self._notices_insert(target="NotificationClaim", stamp="Claimed_At", table=table, count=count)

    def _notices_insert(self, *, target: str, stamp: str, table: str, count: int) -> str:
        q = self.quote
        columns = ("Request_Id", "Notification_Type", stamp, "Sent_To", "Job_Id", "Expires_On", "Message_Id")
        names = ", ".join(q(c) for c in columns)
        if self.array_parameters:  # one short statement whatever the count: parsed and planned once
            types = ("varchar", "varchar", "varchar", "varchar", "timestamptz", "varchar")
            source = f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in types)})"
        else:
            _placeholders(count)  # raises for no rows
            source = "VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * count)
        values = "v (c1, c2, c3, c4, c5, c6)"
        fence = (
            f"EXISTS (SELECT 1 FROM {q(table)}{self.lock_hint} WHERE {q('Job_Id')} = %s "
            f"AND {q('Status')} = 'InProgress'{self.share_lock})"
        )
        select = (
            f"SELECT v.c1, v.c2, {self.now}, v.c3, v.c4, v.c5, v.c6 FROM "
            + ("v" if not self.output_inserted else f"({source}) AS {values}")
            + f" INNER JOIN {q('UserAccessRequest')} r ON r.{q('Request_Id')} = v.c1 WHERE {fence}"
        )
        insert = f"INSERT INTO {q(target)} ({names})"
        returned = ("Id", "Request_Id", "Notification_Type", stamp)
        if self.output_inserted:  # SQL Server: no ON CONFLICT; NOT EXISTS under a key-range lock
            output = ", ".join(f"INSERTED.{q(c)}" for c in returned)
            return (
                f"{insert} OUTPUT {output} {select} AND NOT EXISTS (SELECT 1 FROM "
                f"{q(target)} e{self.lock_hint} WHERE e.{q('Request_Id')} = v.c1 "
                f"AND e.{q('Notification_Type')} = v.c2 AND e.{q('Expires_On')} = v.c5)"
            )
        returning = ", ".join(q(c) for c in returned)
        return f"WITH {values} AS ({source}) {insert} {select} ON CONFLICT DO NOTHING RETURNING {returning}"

    def notice_events_insert_sql(self, count: int) -> str:
        """The audit events of `count` ExpiryNotification ids a recorder batch just wrote, one
        INSERT … SELECT in their order: Event_Type is the second parameter for a notice of the
        first parameter's type (the access-ended notice), else the third; Occurred_At is
        Sent_At; Detail is "<type> to <sent to>". Parameters: that notice type, its event
        type, the reminders' event type, the actor, then the ids."""
        q = self.quote
        columns = ", ".join(q(c) for c in EVENT_COLUMNS)
        detail = f" {self.concat} ".join((q("Notification_Type"), "' to '", q("Sent_To")))
        return (
            f"INSERT INTO {q('AccessEvent')} ({columns}) "
            f"SELECT {q('Request_Id')}, CASE WHEN {q('Notification_Type')} = %s THEN %s ELSE %s END, "
            f"{q('Sent_At')}, %s, {q('Job_Id')}, '', {detail} FROM {q('ExpiryNotification')} "
            f"WHERE {q('Id')} IN ({_placeholders(count)}) ORDER BY {q('Id')}"
        )

    def notice_outbox_insert_sql(self, count: int) -> str:
        """The outbox events of `count` ExpiryNotification ids a recorder batch just wrote,
        but those of the second parameter's type, one INSERT … SELECT in their order (Data
        NULL: read from the notice when sent). Parameters: event type, the notice type left
        out, then the ids."""
        q = self.quote
        return (
            f"INSERT INTO {q('WebhookEvent')} ({q('Type')}, {q('Request_Id')}, {q('Job_Id')}, "
            f"{q('Created_At')}) SELECT %s, {q('Request_Id')}, {q('Job_Id')}, {self.now} "
            f"FROM {q('ExpiryNotification')} WHERE {q('Notification_Type')} <> %s "
            f"AND {q('Id')} IN ({_placeholders(count)}) ORDER BY {q('Id')}"
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

    def revocation_events_insert_sql(self, count: int) -> str:
        """The "Revoked" audit events of one revoke chunk, one INSERT … SELECT of `count`
        UserAccessRequest ids, the ids the chunk's UPDATE revoked (read by primary key, so a
        request revoked by hand meanwhile, not among them, gets no second event).
        Parameters: occurred at (= revoked at), actor (= revoked by), job id, reason, then
        the ids."""
        q = self.quote
        columns = ", ".join(q(c) for c in EVENT_COLUMNS)
        return (
            f"INSERT INTO {q('AccessEvent')} ({columns}) "
            f"SELECT {q('Request_Id')}, 'Revoked', %s, %s, %s, %s, '' FROM {q('UserAccessRequest')} "
            f"WHERE {q('Id')} IN ({_placeholders(count)})"
        )

    def pattern_index_drop_sql(self, index: str) -> str:
        """Drop the LIKE-pattern index named `index` (accessmgr.schema.DropPatternIndex).
        Raises NotImplementedError where Django makes no such index."""
        if not self.pattern_indexes:
            raise NotImplementedError(f"no LIKE-pattern indexes on {self.vendor}")
        return f"DROP INDEX IF EXISTS {self.quote(index)}"

    def session_setup_sql(self, lock_timeout_ms: int) -> str | None:
        """What each new connection runs first (accessmgr.db.connection_session_setup), or None.
        SQL Server: SET LOCK_TIMEOUT, so no statement waits for a lock longer than
        `lock_timeout_ms` (error 1222 instead): a takeover blocked by a stalled holder's open
        transaction gives up, and the next start tries again. SQL Server has no idle-in-
        transaction limit: the holder keeps its locks until its session ends. PostgreSQL
        gets both limits at connect time (libpq `options`, accessmgr/settings.py); SQLite
        has its busy timeout."""
        if self.vendor == "microsoft":
            return f"SET LOCK_TIMEOUT {int(lock_timeout_ms)}"
        return None

    def status_counts_fill_sql(self) -> str:
        """Fill RequestStatusCount from the requests there are (GROUP BY Status), with a row
        of 0 for each status that has none. Run once, after the triggers exist, in the
        migration's transaction."""
        q = self.quote
        counts, requests, status = q(STATUS_COUNTS), q("UserAccessRequest"), q("Status")
        return (
            f"INSERT INTO {counts} ({status}, {q('N')}) "
            f"SELECT s.{status}, COUNT(r.{q('Id')}) FROM ("
            + " UNION ".join(f"SELECT '{name}' AS {status}" for name in STATUSES)
            + f" UNION SELECT {status} FROM {requests}) AS s "
            f"LEFT JOIN {requests} r ON r.{status} = s.{status} GROUP BY s.{status}"
        )

    def status_counts_install_statements(self) -> tuple[str, ...]:
        """The triggers on UserAccessRequest that keep RequestStatusCount (and on PostgreSQL
        their function), one statement each: PostgreSQL's fire once per statement and read
        its transition tables, SQLite's once per row, SQL Server's once per statement over
        inserted / deleted. Each adds what a statement changed to the rows of its statuses,
        in Status order (so two writers lock them in the same order), inserting a missing one."""
        q = self.quote
        counts, requests, status, n = q(STATUS_COUNTS), q("UserAccessRequest"), q("Status"), q("N")
        if self.vendor == "postgresql":
            return self._status_counts_postgresql()
        if self.vendor == "sqlite":
            add = (
                f"INSERT INTO {counts} ({status}, {n}) VALUES (NEW.{status}, 1) "
                f"ON CONFLICT ({status}) DO UPDATE SET {n} = {n} + 1;"
            )
            remove = f"UPDATE {counts} SET {n} = {n} - 1 WHERE {status} = OLD.{status};"
            trigger = f"CREATE TRIGGER {{name}} AFTER {{event}} ON {requests} FOR EACH ROW {{when}}BEGIN {{body}} END"
            changed = f"WHEN OLD.{status} IS NOT NEW.{status} "
            return (
                trigger.format(name=q(f"{STATUS_COUNTS_TRIGGER}_insert"), event="INSERT", when="", body=add),
                trigger.format(
                    name=q(f"{STATUS_COUNTS_TRIGGER}_delete"), event="DELETE", when="", body=remove
                ),
                trigger.format(
                    name=q(f"{STATUS_COUNTS_TRIGGER}_update"),
                    event=f"UPDATE OF {status}",
                    when=changed,
                    body=f"{remove} {add}",
                ),
            )
        delta = (
            f"SELECT x.{status}, SUM(x.d) FROM (SELECT {status}, 1 AS d FROM inserted "
            f"UNION ALL SELECT {status}, -1 AS d FROM deleted) AS x "
            f"GROUP BY x.{status} HAVING SUM(x.d) <> 0"
        )
        return (
            f"CREATE TRIGGER {q(STATUS_COUNTS_TRIGGER)} ON {requests} AFTER INSERT, UPDATE, DELETE AS\n"
            "BEGIN\n"
            "SET NOCOUNT ON;\n"
            f"MERGE {counts} WITH (HOLDLOCK) AS c USING ({delta}) AS s ({status}, d) "
            f"ON c.{status} = s.{status} "
            f"WHEN MATCHED THEN UPDATE SET {n} = c.{n} + s.d "
            f"WHEN NOT MATCHED THEN INSERT ({status}, {n}) VALUES (s.{status}, s.d);\n"
            "END",
        )

    def _status_counts_postgresql(self) -> tuple[str, ...]:
        q = self.quote
        counts, requests, status, n = q(STATUS_COUNTS), q("UserAccessRequest"), q("Status"), q("N")
        function = q(STATUS_COUNTS_TRIGGER)

        def upsert(source: str) -> str:
            return (
                f"INSERT INTO {counts} ({status}, {n}) SELECT {status}, SUM(d) FROM ({source}) AS x "
                f"GROUP BY {status} HAVING SUM(d) <> 0 ORDER BY {status} "
                f"ON CONFLICT ({status}) DO UPDATE SET {n} = {counts}.{n} + EXCLUDED.{n};"
            )

        added = f"SELECT {status}, 1 AS d FROM new_rows"
        removed = f"SELECT {status}, -1 AS d FROM old_rows"
        body = (
            "BEGIN\n"
            f"IF TG_OP = 'INSERT' THEN {upsert(added)}\n"
            f"ELSIF TG_OP = 'DELETE' THEN {upsert(removed)}\n"
            f"ELSIF TG_OP = 'UPDATE' THEN {upsert(f'{added} UNION ALL {removed}')}\n"
            f"ELSE UPDATE {counts} SET {n} = 0;\n"  # TRUNCATE
            "END IF;\n"
            "RETURN NULL;\n"
            "END"
        )
        statements = [
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$\n{body}\n$body$"
        ]
        for event, referencing in (
            ("INSERT", "REFERENCING NEW TABLE AS new_rows "),
            ("DELETE", "REFERENCING OLD TABLE AS old_rows "),
            ("UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "),
            ("TRUNCATE", ""),
        ):
            statements.append(
                f"CREATE TRIGGER {q(f'{STATUS_COUNTS_TRIGGER}_{event.lower()}')} AFTER {event} ON {requests} "
                f"{referencing}FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        return tuple(statements)

    def status_counts_drop_statements(self) -> tuple[str, ...]:
        """Drop what status_counts_install_statements created (not the table)."""
        q = self.quote
        requests = q("UserAccessRequest")
        if self.vendor == "postgresql":
            events = ("insert", "delete", "update", "truncate")
            drops = [
                f"DROP TRIGGER IF EXISTS {q(f'{STATUS_COUNTS_TRIGGER}_{e}')} ON {requests}" for e in events
            ]
            return (*drops, f"DROP FUNCTION IF EXISTS {q(STATUS_COUNTS_TRIGGER)}()")
        if self.vendor == "sqlite":
            return tuple(
                f"DROP TRIGGER IF EXISTS {q(f'{STATUS_COUNTS_TRIGGER}_{e}')}"
                for e in ("insert", "delete", "update")
            )
        return (f"DROP TRIGGER IF EXISTS {q(STATUS_COUNTS_TRIGGER)}",)

    def request_search_index_sql(self) -> str:
        """Migration 0004's trigram index on UserAccessRequest: the four searched columns as
        Django's icontains writes them, UPPER(col::text). Raises NotImplementedError off
        PostgreSQL."""
        self._postgresql_only("a trigram index")
        q = self.quote
        expressions = ", ".join(f"(UPPER({q(c)}::text)) gin_trgm_ops" for c in SEARCH_COLUMNS)
        return (
            f"CREATE INDEX IF NOT EXISTS {q(REQUEST_SEARCH_INDEX)} "
            f"ON {q('UserAccessRequest')} USING gin ({expressions})"
        )

    def search_text_install_statements(self) -> tuple[str, ...]:
        """SEARCH_TEXT, the triggers on UserAccessRequest that keep it, its rows for the
        requests there are, its trigram index, and then migration 0004's index dropped; one
        statement each, in that order, in one transaction. Insert and delete triggers fire
        once per statement over the transition table; the update trigger once per row, and
        only when one of the searched columns changes (a revoke changes none); TRUNCATE
        empties it. Raises NotImplementedError off PostgreSQL."""
        self._postgresql_only("a search text table")
        q = self.quote
        table, requests, function = q(SEARCH_TEXT), q("UserAccessRequest"), q(SEARCH_TEXT_TRIGGER)
        columns = ", ".join(q(c) for c in SEARCH_COLUMNS)
        upper = ", ".join(f"UPPER({q(c)}::text)" for c in SEARCH_COLUMNS)
        changed = " OR ".join(f"OLD.{q(c)} IS DISTINCT FROM NEW.{q(c)}" for c in SEARCH_COLUMNS)
        assign = ", ".join(f"{q(c)} = UPPER(NEW.{q(c)}::text)" for c in SEARCH_COLUMNS)
        new_values = ", ".join(f"UPPER(NEW.{q(c)}::text)" for c in SEARCH_COLUMNS)
        body = (
            "BEGIN\n"
            f"IF TG_OP = 'INSERT' THEN INSERT INTO {table} ({q('Id')}, {columns}) "
            f"SELECT {q('Id')}, {upper} FROM new_rows;\n"
            f"ELSIF TG_OP = 'DELETE' THEN DELETE FROM {table} s USING old_rows o "
            f"WHERE s.{q('Id')} = o.{q('Id')};\n"
            f"ELSIF TG_OP = 'UPDATE' THEN UPDATE {table} SET {q('Id')} = NEW.{q('Id')}, {assign} "
            f"WHERE {q('Id')} = OLD.{q('Id')};\n"
            f"IF NOT FOUND THEN INSERT INTO {table} ({q('Id')}, {columns}) "
            f"VALUES (NEW.{q('Id')}, {new_values}); END IF;\n"
            f"ELSE TRUNCATE {table};\n"
            "END IF;\n"
            "RETURN NULL;\n"
            "END"
        )
        name = lambda event: q(f"{SEARCH_TEXT_TRIGGER}_{event}")  # noqa: E731
        text_columns = ", ".join(f"{q(c)} text NOT NULL" for c in SEARCH_COLUMNS)
        trigrams = ", ".join(f"{q(c)} gin_trgm_ops" for c in SEARCH_COLUMNS)
        return (
            f"CREATE TABLE {table} ({q('Id')} integer PRIMARY KEY, {text_columns})",
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$\n{body}\n$body$",
            f"CREATE TRIGGER {name('insert')} AFTER INSERT ON {requests} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name('update')} AFTER UPDATE OF {q('Id')}, {columns} ON {requests} "
            f"FOR EACH ROW WHEN (OLD.{q('Id')} IS DISTINCT FROM NEW.{q('Id')} OR {changed}) "
            f"EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name('delete')} AFTER DELETE ON {requests} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name('truncate')} AFTER TRUNCATE ON {requests} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"INSERT INTO {table} ({q('Id')}, {columns}) SELECT {q('Id')}, {upper} FROM {requests}",
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            f"CREATE INDEX {q(SEARCH_TEXT_INDEX)} ON {table} USING gin ({trigrams})",
            f"DROP INDEX IF EXISTS {q(REQUEST_SEARCH_INDEX)}",
        )

    def search_text_drop_statements(self) -> tuple[str, ...]:
        """Undo search_text_install_statements: migration 0004's index back, then the
        triggers, their function and the table dropped. Raises NotImplementedError off
        PostgreSQL."""
        self._postgresql_only("a search text table")
        q = self.quote
        requests = q("UserAccessRequest")
        drops = [
            f"DROP TRIGGER IF EXISTS {q(f'{SEARCH_TEXT_TRIGGER}_{e}')} ON {requests}"
            for e in ("insert", "update", "delete", "truncate")
        ]
        return (
            self.request_search_index_sql(),
            *drops,
            f"DROP FUNCTION IF EXISTS {q(SEARCH_TEXT_TRIGGER)}()",
            f"DROP TABLE IF EXISTS {q(SEARCH_TEXT)}",
        )

    def search_ids_sql(self) -> str:
        """The Id of each request whose searched columns contain a text, case-insensitively,
        from SEARCH_TEXT (where search_text_table). Parameters: the LIKE pattern (%…%,
        escaped as Django escapes icontains) once per column of SEARCH_COLUMNS."""
        self._postgresql_only("a search text table")
        q = self.quote
        matches = " OR ".join(f"{q(c)} LIKE UPPER(%s)" for c in SEARCH_COLUMNS)
        return f"SELECT {q('Id')} FROM {q(SEARCH_TEXT)} WHERE {matches}"

    def _postgresql_only(self, what: str) -> None:
        if self.vendor != "postgresql":
            raise NotImplementedError(f"no {what} on {self.vendor}")

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
    share_lock=" FOR SHARE",
    revoke_chunk_ids=20000,  # one array parameter, whatever the number of ids
    pattern_indexes=True,
    array_parameters=True,
    search_text_table=True,
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
    concat="+",
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


# Seconds from one datetime column to another, as a number (the /metrics duration histogram).
# Django's own datetime subtraction runs a Python function per row on SQLite.
_SECONDS_BETWEEN = {
    "postgresql": "EXTRACT(EPOCH FROM ({end} - {start}))",
    "sqlite": "((julianday({end}) - julianday({start})) * 86400.0)",
    "microsoft": "(DATEDIFF_BIG(microsecond, {start}, {end}) / 1000000.0)",
}


def seconds_between_sql(*, vendor: str, start: str, end: str) -> str:
    """`end` − `start` in seconds; `start` and `end` are quoted column names."""
    return _SECONDS_BETWEEN[vendor].format(start=start, end=end)
