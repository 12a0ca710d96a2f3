"""Fixtures of the fault-injection tests: a FaultProxy in front of the test's PostgreSQL,
an SmtpSink, and the environment of a child process that reaches the database through
the proxy. Everything here needs PostgreSQL (the proxy speaks TCP); on SQLite the tests
skip with the reason."""

import dj_database_url
import pytest
from django.db import connection

from tests.faults.proxy import FaultProxy
from tests.faults.smtp import SmtpSink


@pytest.fixture
def db_proxy(postgres_only):
    """A FaultProxy to the PostgreSQL server the suite uses; stopped after the test."""
    settings_dict = connection.settings_dict
    upstream = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    with FaultProxy(upstream=upstream) as proxy:
        yield proxy


@pytest.fixture
def proxied_env(child_env, db_proxy):
    """child_env, with DATABASE_URL through db_proxy (same test database, same user)."""
    parsed = dj_database_url.parse(child_env["DATABASE_URL"])
    return {**child_env, "DATABASE_URL": db_proxy.database_url(parsed["NAME"], user=parsed["USER"] or "root")}


@pytest.fixture
def smtp_sink():
    with SmtpSink() as sink:
        yield sink
