"""What every database session is started with: PostgreSQL ends a transaction left idle
for half the stale window and stops a lock wait after the stale window, so a stalled job
cannot hold a takeover (docs/deploy.md, "When the database goes away")."""

from django.db import connection


def test_postgresql_sessions_limit_idle_transactions_and_lock_waits(postgres_only, settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting FROM pg_settings "
            "WHERE name IN ('lock_timeout', 'idle_in_transaction_session_timeout')"
        )
        limits = dict(cursor.fetchall())
    stale_ms = int(settings.JOB_STALE_AFTER_SECONDS * 1000)
    assert limits == {
        "lock_timeout": str(stale_ms),
        "idle_in_transaction_session_timeout": str(stale_ms // 2),
    }
