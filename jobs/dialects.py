"""Every vendor-specific SQL string of accessmgr, and nothing else.

Each database says "now, in UTC" and "N seconds ago" in its own words, and the lock's
NOT EXISTS insert needs a table hint on SQL Server. Times always come from the
database's clock, never the app server's: servers behind a load balancer disagree.
The T-SQL variants are checked offline (tests/test_dialects.py); no SQL Server runs here.
"""

from dataclasses import dataclass

from django.db import connections


@dataclass(frozen=True)
class Dialect:
    vendor: str
    now: str  # current UTC time, as the backend stores datetimes
    ago: str  # the UTC time %s seconds ago (one parameter: seconds as a number)
    lock_hint: str = ""  # table hint on the NOT EXISTS probe of the lock insert

    def acquire_sql(self, table: str) -> str:
        """Insert the InProgress row only when none exists. The filtered unique index
        on Status='InProgress' makes this exclusive even when two callers both see
        no row (READ COMMITTED); the caller treats a unique violation as "held".
        Parameters: job id, started by, triggered by."""
        return (
            f'INSERT INTO {table} ("Job_Id", "Status", "Started_At", "Heartbeat_At", '
            f'"Started_By", "Triggered_By") '
            f"SELECT %s, 'InProgress', {self.now}, {self.now}, %s, %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table}{self.lock_hint} "
            f"WHERE \"Status\" = 'InProgress')"
        )


POSTGRESQL = Dialect(
    vendor="postgresql",
    now="statement_timestamp()",
    ago="(statement_timestamp() - make_interval(secs => %s))",
)

# Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text in UTC, which
# compares correctly as a string with strftime's '%Y-%m-%d %H:%M:%f'.
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
)

DIALECTS = {d.vendor: d for d in (POSTGRESQL, SQLITE, MICROSOFT)}


def dialect_for(using: str = "default") -> Dialect:
    vendor = connections[using].vendor
    try:
        return DIALECTS[vendor]
    except KeyError:
        raise NotImplementedError(f"accessmgr has no SQL for the {vendor!r} database backend") from None
