"""The bench's own database and environment, set up before Django starts.

SQLite: a fresh file under var/bench/. PostgreSQL: a dedicated database (default
`accessmgr_bench`) created and dropped on the server of BENCH_PG_URL — never the `test`
database nor anyone's test_* database. Settings are environment variables (accessmgr's
settings read nothing else), so everything is set in os.environ before django.setup(),
and the bench's child processes (lock contenders, gunicorn) inherit the same values.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
DEFAULT_PG_URL = "postgres://root@127.0.0.1:5432/accessmgr_bench"


@dataclass(frozen=True)
class BenchDatabase:
    vendor: str  # "sqlite" | "postgresql"
    url: str  # DATABASE_URL for the app
    name: str  # file path (SQLite) or database name (PostgreSQL)
    admin_conninfo: str = ""  # PostgreSQL: where to CREATE/DROP DATABASE


def _pg_parts(url: str) -> tuple[str, str]:
    """(server URL without the database, database name) of a postgres:// URL."""
    match = re.match(r"^(postgres(?:ql)?://[^/]*)/([A-Za-z0-9_]+)$", url)
    if not match:
        raise SystemExit(f"BENCH_PG_URL must look like postgres://user@host:5432/name, got {url!r}")
    return match.group(1), match.group(2)


def bench_database(*, db: str, work_dir: Path, pg_url: str | None = None) -> BenchDatabase:
    if db == "sqlite":
        path = work_dir / "bench.sqlite3"
        return BenchDatabase(vendor="sqlite", url=f"sqlite:///{path}", name=str(path))
    if db in ("postgres", "postgresql"):
        url = pg_url or os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL
        server, name = _pg_parts(url)
        if name == "test" or name.startswith("test_"):
            raise SystemExit(f"refusing to use {name!r} for the bench: it is a test database")
        return BenchDatabase(vendor="postgresql", url=url, name=name, admin_conninfo=f"{server}/postgres")
    raise SystemExit(f"unknown database {db!r}: use sqlite or postgres")


def database_create(bench_db: BenchDatabase) -> None:
    """A fresh, empty database for this run."""
    database_drop(bench_db)
    if bench_db.vendor == "postgresql":
        import psycopg

        with psycopg.connect(bench_db.admin_conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{bench_db.name}"')


def database_drop(bench_db: BenchDatabase) -> None:
    if bench_db.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(bench_db.name + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(bench_db.admin_conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db.name}" WITH (FORCE)')


def environ_prepare(*, bench_db: BenchDatabase, work_dir: Path) -> dict[str, str]:
    """The settings the bench runs with (also shown in the report). Production-like:
    DEBUG off (no query log), plain HTTP on 127.0.0.1, locmem email, no artificial
    delays unless a benchmark sets one."""
    values = {
        "DJANGO_SETTINGS_MODULE": "accessmgr.settings",
        "DATABASE_URL": bench_db.url,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-not-a-secret-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "ROOT_URLCONF": "bench.urls",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "REVOKE_DELAY_SECONDS": "0",
        "NOTIFY_SEND_DELAY_SECONDS": "0",
        # Each benchmark runs its own job; no delivery thread after a revoke run or a create.
        "WEBHOOK_DELIVER_ON_COMMIT": "0",
        "TEST_MODE": "0",
        "LOG_LEVEL": "WARNING",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATICFILES_MANIFEST": "0",
        "STATIC_ROOT": str(work_dir / "static"),  # empty: nothing static is requested
        "VAR_DIR": str(work_dir),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        # bench/gunicorn.conf.py (one worker: see there), also the wrk connection count.
        "BENCH_GUNICORN_WORKERS": os.environ.get("BENCH_GUNICORN_WORKERS") or "1",
        "BENCH_GUNICORN_THREADS": os.environ.get("BENCH_GUNICORN_THREADS") or "4",
    }
    (work_dir / "static").mkdir(parents=True, exist_ok=True)
    os.environ.update(values)
    os.environ.pop("DATABASE_TEST_NAME", None)
    return values
