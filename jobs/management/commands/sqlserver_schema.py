"""`manage.py sqlserver_schema`: print the T-SQL that `migrate` runs for accessmgr's own apps,
rendered offline through mssql-django's schema editor on a connection that never connects
(a stand-in pyodbc when the system has no unixODBC). How and why: docs/sqlserver.md.

    python manage.py sqlserver_schema > docs/sqlserver-schema.sql
"""

import sys
import types
from importlib.metadata import version

import django
from django.core.management.base import BaseCommand
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

PROJECT_APPS = ["requests_app", "jobs", "webhooks"]
ALIAS = "sqlserver-offline"


class _OfflinePyodbc(types.ModuleType):
    """Just enough of pyodbc for `import mssql.base`: a version, named constants and
    the DB-API exception classes."""

    version = "5.5.0"

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name.endswith(("Error", "Warning")):
            return type(name, (Exception,), {})
        return f"offline:{name}"


def _refuse_to_connect(*args, **kwargs):
    raise RuntimeError("sqlserver_schema renders SQL offline; it never connects to SQL Server")


def sqlserver_connection():
    """An mssql-django connection object that renders SQL and never connects."""
    try:
        import pyodbc  # noqa: F401
    except ImportError:
        sys.modules["pyodbc"] = _OfflinePyodbc("pyodbc")
    from mssql.base import DatabaseWrapper

    settings_dict = {
        "ENGINE": "mssql",
        "NAME": "accessmgr",
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {},
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "TEST": {},
    }
    connection = DatabaseWrapper(settings_dict, alias=ALIAS)
    connection.connect = _refuse_to_connect
    connections[ALIAS] = connection  # migration operations look the alias up
    return connection


def _own_batch(statement: str) -> str:
    """A CREATE TRIGGER between GO lines: it must be alone in its batch (sqlcmd, SSMS),
    as it is when migrate sends it."""
    if statement.lstrip().upper().startswith("CREATE TRIGGER"):
        return f"GO\n{statement}\nGO"
    return statement


def sqlserver_schema_sql(*, apps: list[str]) -> str:
    """The T-SQL of every migration of `apps`, in dependency order."""
    connection = sqlserver_connection()
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = []
    for app in apps:
        for leaf in loader.graph.leaf_nodes(app):
            plan += [key for key in loader.graph.forwards_plan(leaf) if key not in plan]
    state = ProjectState(real_apps=loader.unmigrated_apps)
    lines = [
        "-- accessmgr: the SQL Server schema of its own tables, as `migrate` creates them.",
        f"-- Generated offline by `python manage.py sqlserver_schema` (Django {django.get_version()}, "
        f"mssql-django {version('mssql-django')}); do not edit by hand.",
        "-- Apply with `python manage.py migrate` (it also records the migrations), not by hand.",
    ]
    for key in plan:
        migration = loader.graph.nodes[key]
        with connection.schema_editor(collect_sql=True, atomic=False) as editor:
            state = migration.apply(state, editor, collect_sql=True)
            immediate = len(editor.collected_sql)
        # The editor's deferred statements (indexes, foreign keys) run after every table
        # of the migration exists; mssql-django de-duplicates them through a set, so
        # their order changes from run to run. Sorted, the file is reproducible.
        collected = editor.collected_sql[:immediate] + sorted(editor.collected_sql[immediate:])
        if key[0] in apps:
            lines += ["", f"-- Migration {key[0]}.{key[1]}", *map(_own_batch, collected)]
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Print the SQL Server DDL of accessmgr's own migrations, without a SQL Server."

    def handle(self, *args, **options):
        self.stdout.write(sqlserver_schema_sql(apps=PROJECT_APPS), ending="")
