"""The database clock, for every app: times come from the database, never the app server
(servers behind a load balancer disagree)."""

from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime

from jobs.dialects import DIALECTS, dialect_for


def db_datetime(value: datetime | str) -> datetime:
    """A UTC time read by raw SQL, as an aware datetime (SQLite gives text, SQL Server a
    naive datetime, PostgreSQL an aware one)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def days_left(*, expires_on: datetime, now: datetime) -> int:
    """Calendar days between two UTC moments, as SQL Server's DATEDIFF(DAY, now, expires_on)
    counts them: the difference of their UTC dates (23:59 → 00:01 next day is 1 day)."""
    return (expires_on.date() - now.date()).days


def db_now() -> datetime:
    """The database's current UTC time, as an aware datetime."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {dialect_for().now}", [])
        return db_datetime(cursor.fetchone()[0])


def connection_session_setup(sender, connection, **kwargs) -> None:
    """connection_created receiver: the dialect's per-session settings (SQL Server's lock
    timeout), on every new connection of every thread."""
    dialect = DIALECTS.get(connection.vendor)
    sql = dialect.session_setup_sql(settings.DB_LOCK_TIMEOUT_MS) if dialect else None
    if sql:
        with connection.cursor() as cursor:
            cursor.execute(sql)
