"""Shared fixtures. Tests hit a real database: SQLite by default, PostgreSQL when
DATABASE_URL points at one (make test DATABASE_URL=postgres://root@127.0.0.1:5432/test)."""

import os
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.factories import PASSWORD, request_make, user_make  # noqa: F401 - PASSWORD for tests
from tests.metrics_scrape import TOKEN

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def postgres_only(db):
    """For tests that only make sense on PostgreSQL (pg_stat_activity, two servers on one
    database). They run in the PostgreSQL pass of `make test`."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://root@127.0.0.1:5432/test")


@pytest.fixture
def table_away(transactional_db):
    """`table_away(Model)` renames the model's table away until the test ends, so every
    statement that touches it fails in the database: a fault in the SQL the database's
    dialect really runs (PostgreSQL's one-statement revoke chunk, say), not a patched function."""
    moved = []

    def away(model) -> None:
        with connection.schema_editor() as editor:
            editor.alter_db_table(model, model._meta.db_table, f"{model._meta.db_table}_away")
        moved.append(model)

    yield away
    for model in reversed(moved):
        with connection.schema_editor() as editor:
            editor.alter_db_table(model, f"{model._meta.db_table}_away", model._meta.db_table)


@pytest.fixture
def user(db) -> User:
    """alice: sees every request and creates them for anyone (as every user could before
    requests had an owner); no job, change or admin permissions."""
    return user_make("alice", permissions=("view_all_requests", "create_for_others"))


@pytest.fixture
def requester(db) -> User:
    """bob: a plain user, who requests access for himself and sees only his own requests."""
    return user_make("bob", first_name="Bob", last_name="Builder")


@pytest.fixture
def operator(db) -> User:
    """A user allowed to run every job, to see every request (the job pages list them) and
    to create requests for anyone: what staff may do, without being staff."""
    return user_make(
        "olivia",
        permissions=(
            "run_revoke_job",
            "run_notification_job",
            "run_delivery_job",
            "view_all_requests",
            "create_for_others",
        ),
    )


def sso_configure(settings, issuer: str) -> str:
    """Single sign-on on, for the OIDC provider at `issuer` (what OIDC_ISSUER, OIDC_CLIENT_ID
    and OIDC_CLIENT_SECRET set); `settings` is pytest-django's fixture."""
    settings.OIDC_ISSUER = issuer
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "accessmgr"
    settings.OIDC_RP_CLIENT_SECRET = "client-secret"
    return issuer


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def requester_client(client, requester):
    client.force_login(requester)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def _child_database_url() -> str:
    """A DATABASE_URL for a child process that points at the test database in use."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    parsed = dj_database_url.parse(os.environ.get("DATABASE_URL", ""))
    user = parsed.get("USER") or ""
    host = parsed.get("HOST") or "127.0.0.1"
    port = parsed.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def child_env(transactional_db):
    """Environment for a separate OS process (manage.py, a second server, a race worker)
    that must see the same test database as this test. Use with transactional tests so
    the rows a test writes are committed and visible to the child."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_child_database_url(),
        DJANGO_SETTINGS_MODULE="accessmgr.settings",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_TEST_NAME", None)
    return env


PYTHON = sys.executable


def django_start(env: dict | None = None, code: str = "", **variables: str) -> subprocess.CompletedProcess:
    """Start Django in a fresh process (settings are read once, at start-up), then run
    `code`; its exit status, stdout and stderr. The environment: `env`, or this one (the
    suite's test settings), plus `variables`."""
    env = {
        **(os.environ if env is None else env),
        "DJANGO_SETTINGS_MODULE": "accessmgr.settings",
        **variables,
    }
    return subprocess.run(
        [PYTHON, "-c", f"import django; django.setup(); {code}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def make_request(db):
    """tests.factories.request_make, for the many view tests that take it as a fixture."""
    return request_make


@pytest.fixture
def token(settings):
    """The /metrics bearer token, set: the headers a scrape sends (tests/metrics_scrape.py)."""
    settings.METRICS_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
