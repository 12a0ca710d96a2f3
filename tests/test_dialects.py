"""Offline checks of every T-SQL string accessmgr sends to SQL Server / Azure SQL.

No SQL Server runs in CI: each statement of the MICROSOFT dialect (jobs/dialects.py) is
parsed with sqlglot's tsql dialect, after its %s placeholders are replaced by sample
literals, and its shape is asserted. docs/sqlserver-schema.sql is checked the same way
and against what `manage.py sqlserver_schema` prints now.
"""

import dataclasses
import inspect
import os
import re
import subprocess
import sys

import pytest
import sqlglot
from sqlglot import exp

import jobs.dialects
from jobs.dialects import (
    DIALECTS,
    EVENT_COLUMNS,
    Dialect,
    access_event_insert_sql,
    notification_insert_sql,
    revocation_events_insert_sql,
    revocations_insert_sql,
    revocations_update_insert_sql,
    revocations_update_returning_sql,
)
from jobs.models import JOB_MODELS

from .conftest import ROOT

MICROSOFT = DIALECTS["microsoft"]
JOB_TABLES = [model._meta.db_table for model in JOB_MODELS.values()]
SCHEMA_SQL = ROOT / "docs" / "sqlserver-schema.sql"

# Dialect fields that are not SQL.
NOT_SQL = {"vendor", "quote_open", "quote_close"}
# Functions that give the server's local time: the lock must never use them.
LOCAL_TIME = re.compile(r"\b(GETDATE|SYSDATETIME|SYSDATETIMEOFFSET|CURRENT_TIMESTAMP|GETUTCDATE)\b", re.I)
SAMPLE_LITERALS = [
    "'0f8fad5b-d9cb-469f-a165-70867728950e'",
    "'web-1:4242'",
    "'alice'",
    "'extra'",
    "'2026-12-31 00:00:00'",
    "'detail'",
]


def bracket(name: str) -> str:
    """How mssql-django's connection.ops.quote_name quotes a table name."""
    return f"[{name}]"


def fill_placeholders(sql: str, *, numbers: bool = False) -> str:
    """What the server receives: mssql-django turns %s into ? (here: sample literals)
    and, because it %-formats the string, %% into %."""
    samples = iter(["600"] * 10 if numbers else SAMPLE_LITERALS)
    return re.sub(r"%s", lambda _: next(samples), sql).replace("%%", "%")


def parse_tsql(sql: str) -> exp.Expression:
    statements = sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(statements) == 1, sql
    return statements[0]


def function_names(tree: exp.Expression) -> set[str]:
    return {node.name.upper() for node in tree.find_all(exp.Anonymous)} | {
        node.sql_name() for node in tree.find_all(exp.Func) if not isinstance(node, exp.Anonymous)
    }


def microsoft_strings() -> dict[str, str]:
    """Every SQL text of the MICROSOFT dialect: its fields and what its *_sql methods
    return for both job tables. A new method with other parameters must be added here."""
    texts = {}
    for field in dataclasses.fields(Dialect):
        value = getattr(MICROSOFT, field.name)
        if field.name not in NOT_SQL and isinstance(value, str) and value:
            texts[field.name] = value
    for name, method in inspect.getmembers(Dialect, inspect.isfunction):
        if name.endswith("_sql"):
            params = [p for p in inspect.signature(method).parameters if p != "self"]
            assert params == ["table"], f"add sample arguments for Dialect.{name}{params} in this test"
            for table in JOB_TABLES:
                texts[f"{name}({table})"] = getattr(MICROSOFT, name)(bracket(table))
    texts["revocations_insert_sql(3)"] = revocations_insert_sql(count=3, quote=bracket)
    texts["notification_insert_sql"] = notification_insert_sql(vendor="microsoft", quote=bracket)
    texts["access_event_insert_sql"] = access_event_insert_sql(vendor="microsoft", quote=bracket)
    texts["revocation_events_insert_sql(3)"] = revocation_events_insert_sql(count=3, quote=bracket)
    return texts


def test_every_microsoft_string_is_collected():
    texts = microsoft_strings()
    assert {"now", "ago", "lock_hint"} <= set(texts)
    assert {f"acquire_sql({t})" for t in JOB_TABLES} <= set(texts)
    assert "revocations_insert_sql(3)" in texts
    assert "notification_insert_sql" in texts
    assert {"access_event_insert_sql", "revocation_events_insert_sql(3)"} <= set(texts)


@pytest.mark.parametrize("name", sorted(microsoft_strings()))
def test_microsoft_sql_never_uses_local_time_or_stray_percent_signs(name):
    text = microsoft_strings()[name]
    assert not LOCAL_TIME.search(text), f"{name}: use SYSUTCDATETIME(), the server's UTC clock"
    # mssql-django only %-formats a statement that has parameters: a literal %% would
    # reach the server doubled in a statement without any.
    assert "%" not in text.replace("%s", ""), name


def test_now_is_sysutcdatetime():
    tree = parse_tsql(f"SELECT {MICROSOFT.now}")
    assert function_names(tree) == {"SYSUTCDATETIME"}


def test_ago_subtracts_seconds_from_sysutcdatetime():
    assert MICROSOFT.ago.count("%s") == 1
    tree = parse_tsql(f"SELECT {fill_placeholders(MICROSOFT.ago, numbers=True)}")
    date_add = tree.find(exp.DateAdd)
    assert date_add is not None
    assert date_add.this.name.upper() == "SYSUTCDATETIME"
    assert date_add.text("unit").upper() in ("MILLISECOND", "SECOND")
    assert isinstance(date_add.expression, exp.Neg)  # "ago": a negative amount


@pytest.mark.parametrize("table", JOB_TABLES)
def test_now_and_ago_work_inside_the_lock_updates(table):
    """The heartbeat / takeover UPDATE the lock runs through the ORM, with the dialect's
    expressions in SET and WHERE."""
    sql = (
        f"UPDATE {bracket(table)} SET [Status] = 'Abandoned', [Completed_At] = {MICROSOFT.now} "
        f"WHERE [Status] = 'InProgress' AND [Heartbeat_At] < {MICROSOFT.ago}"
    )
    tree = parse_tsql(fill_placeholders(sql, numbers=True))
    assert isinstance(tree, exp.Update)
    assert "SYSUTCDATETIME" in function_names(tree)
    select = parse_tsql(
        fill_placeholders(
            f"SELECT [Job_Id] FROM {bracket(table)} WHERE [Heartbeat_At] >= {MICROSOFT.ago}", numbers=True
        )
    )
    assert isinstance(select, exp.Select)


@pytest.mark.parametrize("table", JOB_TABLES)
def test_acquire_is_one_insert_select_where_not_exists_with_updlock_holdlock(table):
    sql = MICROSOFT.acquire_sql(bracket(table))
    assert sql.count("%s") == 3  # job id, started by, triggered by
    tree = parse_tsql(fill_placeholders(sql))

    assert isinstance(tree, exp.Insert)
    target = tree.this  # Schema(Table, columns)
    assert target.this.name == table
    columns = [column.name for column in target.expressions]
    assert {"Job_Id", "Status", "Started_At", "Heartbeat_At", "Started_By", "Triggered_By"} <= set(columns)

    select = tree.expression
    assert isinstance(select, exp.Select)
    assert len(select.expressions) == len(columns)
    values = dict(zip(columns, select.expressions, strict=True))
    assert values["Status"].this == "InProgress"
    assert values["Started_At"].name.upper() == "SYSUTCDATETIME"
    assert values["Heartbeat_At"].name.upper() == "SYSUTCDATETIME"

    not_exists = select.args["where"].this
    assert isinstance(not_exists, exp.Not) and isinstance(not_exists.this, exp.Exists)
    probe = not_exists.this.this
    probed = probe.args["from_"].this
    assert probed.name == table
    hints = {hint.name.upper() for h in probed.args.get("hints") or [] for hint in h.expressions}
    assert {"UPDLOCK", "HOLDLOCK"} <= hints
    condition = probe.args["where"].this
    assert isinstance(condition, exp.EQ)
    assert (condition.this.name, condition.expression.this) == ("Status", "InProgress")


def test_revocations_insert_is_one_insert_select_of_the_chunks_request_ids():
    sql = revocations_insert_sql(count=3, quote=bracket)
    assert sql.count("%s") == 6  # revoked at, revoked by, job id, then the 3 ids
    tree = parse_tsql(fill_placeholders(sql, numbers=True))

    assert isinstance(tree, exp.Insert)
    target = tree.this
    assert target.this.name == "RevokedAccess"
    columns = [column.name for column in target.expressions]
    assert columns == ["Request_Id", "Revoked_Dt", "Revoked_By", "Job_Id"]

    select = tree.expression
    assert isinstance(select, exp.Select)
    assert len(select.expressions) == len(columns)
    assert select.expressions[0].name == "Request_Id"  # copied from the request row
    assert all(isinstance(value, exp.Literal) for value in select.expressions[1:])  # the parameters
    assert select.args["from_"].this.name == "UserAccessRequest"
    condition = select.args["where"].this
    assert isinstance(condition, exp.In)
    assert condition.this.name == "Id"
    assert len(condition.expressions) == 3


def test_revocations_insert_parameters_stay_far_below_the_sql_server_limit():
    from jobs.revoke import MAX_CHUNK_IDS

    sql = revocations_insert_sql(count=MAX_CHUNK_IDS, quote=bracket)
    assert sql.count("%s") == MAX_CHUNK_IDS + 3 < 2100
    with pytest.raises(ValueError):
        revocations_insert_sql(count=0, quote=bracket)


def double_quote(name: str) -> str:
    """How Django's PostgreSQL connection.ops.quote_name quotes a name."""
    return f'"{name}"'


def test_revocations_update_insert_on_postgresql_is_one_update_returning_feeding_the_insert():
    sql = revocations_update_insert_sql(vendor="postgresql", quote=double_quote)
    assert sql.count("%s") == 4  # the ids as one array, then revoked at, revoked by, job id
    filled = sql.replace("%s", "ARRAY[1, 2, 3]", 1).replace("%s", "'sample'")
    statements = sqlglot.parse(filled, read="postgres", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(statements) == 1
    tree = statements[0]

    assert isinstance(tree, exp.Insert)
    assert tree.this.this.name == "RevokedAccess"
    columns = [column.name for column in tree.this.expressions]
    assert columns == ["Request_Id", "Revoked_Dt", "Revoked_By", "Job_Id"]
    select = tree.expression
    assert select.args["from_"].this.name == "revoked"  # only the rows the UPDATE changed
    assert select.expressions[0].name == "Request_Id"

    (cte,) = tree.args["with_"].expressions
    assert cte.alias == "revoked"
    update = cte.this
    assert isinstance(update, exp.Update)
    assert update.this.name == "UserAccessRequest"
    (assignment,) = update.expressions
    assert (assignment.this.name, assignment.expression.this) == ("Status", "Revoked")
    condition = update.args["where"].this
    assert isinstance(condition, exp.And)
    ids, status = condition.this, condition.expression
    assert ids.this.name == "Id" and isinstance(ids.expression, exp.Any)
    assert (status.this.name, status.expression.this) == ("Status", "Active")
    assert [column.name for column in update.args["returning"].expressions] == ["Request_Id"]


@pytest.mark.parametrize("vendor", ["microsoft", "sqlite"])
def test_revocations_update_insert_is_none_where_the_database_has_no_such_statement(vendor):
    # SQL Server: the target of OUTPUT … INTO may not be on either side of a FOREIGN KEY
    # (RevokedAccess.Request_Id is one); SQLite: no data-modifying CTE. Both send the UPDATE
    # and revocations_insert_sql (parsed as T-SQL above).
    assert revocations_update_insert_sql(vendor=vendor, quote=bracket) is None


@pytest.mark.parametrize("vendor,read", [("sqlite", "sqlite"), ("postgresql", "postgres")])
def test_revocations_update_returning_marks_the_active_ids_and_returns_their_ids(vendor, read):
    sql = revocations_update_returning_sql(vendor=vendor, count=3, quote=double_quote)
    assert sql.count("%s") == 3
    statements = sqlglot.parse(sql.replace("%s", "7"), read=read, error_level=sqlglot.ErrorLevel.RAISE)
    assert len(statements) == 1
    update = statements[0]
    assert isinstance(update, exp.Update)
    assert update.this.name == "UserAccessRequest"
    (assignment,) = update.expressions
    assert (assignment.this.name, assignment.expression.this) == ("Status", "Revoked")
    ids, status = update.args["where"].this.this, update.args["where"].this.expression
    assert isinstance(ids, exp.In) and ids.this.name == "Id" and len(ids.expressions) == 3
    assert (status.this.name, status.expression.this) == ("Status", "Active")
    assert [column.name for column in update.args["returning"].expressions] == ["Id"]
    with pytest.raises(ValueError):
        revocations_update_returning_sql(vendor=vendor, count=0, quote=double_quote)


def test_revocations_update_returning_is_none_on_sqlite_before_3_35_and_on_sql_server(monkeypatch):
    assert revocations_update_returning_sql(vendor="microsoft", count=3, quote=bracket) is None
    monkeypatch.setattr(jobs.dialects.sqlite3, "sqlite_version_info", (3, 34, 1))
    assert revocations_update_returning_sql(vendor="sqlite", count=3, quote=double_quote) is None
    monkeypatch.setattr(jobs.dialects.sqlite3, "sqlite_version_info", (3, 35, 0))
    assert revocations_update_returning_sql(vendor="sqlite", count=3, quote=double_quote) is not None


NOTIFICATION_COLUMNS = ["Request_Id", "Notification_Type", "Sent_At", "Sent_To", "Job_Id", "Expires_On"]


def test_notification_insert_on_sql_server_outputs_sent_at_from_sysutcdatetime():
    sql = notification_insert_sql(vendor="microsoft", quote=bracket)
    assert sql.count("%s") == 5
    insert = parse_tsql(fill_placeholders(sql))
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.name == "ExpiryNotification"
    assert [c.name for c in insert.this.expressions] == NOTIFICATION_COLUMNS
    (row,) = insert.expression.expressions
    assert function_names(row.expressions[2]) == {"SYSUTCDATETIME"}
    assert "OUTPUT INSERTED.[Sent_At]" in sql


@pytest.mark.parametrize("vendor,read", [("sqlite", "sqlite"), ("postgresql", "postgres")])
def test_notification_insert_returns_sent_at(vendor, read):
    sql = notification_insert_sql(vendor=vendor, quote=double_quote)
    assert sql.count("%s") == 5
    (insert,) = sqlglot.parse(sql.replace("%s", "'x'").replace("%%", "%"), read=read)
    assert isinstance(insert, exp.Insert)
    assert [c.name for c in insert.this.expressions] == NOTIFICATION_COLUMNS
    assert [c.name for c in insert.args["returning"].expressions] == ["Sent_At"]


def test_access_event_insert_is_one_row_at_sysutcdatetime():
    sql = access_event_insert_sql(vendor="microsoft", quote=bracket)
    assert sql.count("%s") == 6
    insert = parse_tsql(fill_placeholders(sql))
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.name == "AccessEvent"
    columns = [c.name for c in insert.this.expressions]
    assert columns == list(EVENT_COLUMNS)
    (row,) = insert.expression.expressions
    assert function_names(row.expressions[columns.index("Occurred_At")]) == {"SYSUTCDATETIME"}


def test_revocation_events_insert_is_one_insert_select_of_this_runs_revocations():
    from requests_app.models import AccessEvent

    sql = revocation_events_insert_sql(count=3, quote=bracket)
    assert sql.count("%s") == 5  # reason, job id, then the 3 ids
    tree = parse_tsql(fill_placeholders(sql, numbers=True))
    assert isinstance(tree, exp.Insert)
    assert tree.this.this.name == "AccessEvent"
    assert [c.name for c in tree.this.expressions] == list(EVENT_COLUMNS)
    select = tree.expression
    assert isinstance(select, exp.Select)
    assert len(select.expressions) == len(EVENT_COLUMNS)
    assert select.expressions[1].this == AccessEvent.Type.REVOKED  # the Event_Type literal
    assert select.args["from_"].this.name == "RevokedAccess"
    (join,) = select.args["joins"]
    assert join.this.name == "UserAccessRequest"
    where = select.args["where"].this
    assert isinstance(where, exp.And)
    assert isinstance(where.expression, exp.In) and len(where.expression.expressions) == 3
    assert where.this.this.name == "Job_Id"  # only this run's RevokedAccess rows
    from jobs.revoke import MAX_CHUNK_IDS

    assert revocation_events_insert_sql(count=MAX_CHUNK_IDS, quote=bracket).count("%s") < 2100
    with pytest.raises(ValueError):
        revocation_events_insert_sql(count=0, quote=bracket)


def test_notification_insert_has_no_returning_on_sqlite_before_3_35(monkeypatch):
    monkeypatch.setattr(jobs.dialects.sqlite3, "sqlite_version_info", (3, 34, 1))
    assert "RETURNING" not in notification_insert_sql(vendor="sqlite", quote=double_quote)


def test_lock_hint_parses_as_a_table_hint():
    tree = parse_tsql(f"SELECT 1 FROM [T]{MICROSOFT.lock_hint}")
    assert tree.find(exp.WithTableHint) is not None


# --- docs/sqlserver-schema.sql ---------------------------------------------------------


def schema_statements() -> list[exp.Expression]:
    return sqlglot.parse(SCHEMA_SQL.read_text(), read="tsql", error_level=sqlglot.ErrorLevel.RAISE)


def test_schema_sql_parses_and_creates_every_seed_table():
    created = {
        s.find(exp.Table).name
        for s in schema_statements()
        if isinstance(s, exp.Create) and s.args["kind"] == "TABLE"
    }
    assert created == {
        "UserAccessRequest",
        "RevokedAccess",
        "ExpiryNotification",
        "AccessEvent",
        "NotificationJobRun",
        "RevokeExpiredJobRun",
    }


@pytest.mark.parametrize("table", JOB_TABLES)
def test_schema_sql_has_the_filtered_unique_index_the_lock_relies_on(table):
    filtered = [
        s
        for s in schema_statements()
        if isinstance(s, exp.Create)
        and s.args["kind"] == "INDEX"
        and s.args.get("unique")
        and s.this.args["table"].name == table
        and s.this.args["params"].args.get("where") is not None
    ]
    assert len(filtered) == 1
    params = filtered[0].this.args["params"]
    assert [c.this.name for c in params.args["columns"]] == ["Status"]
    condition = params.args["where"].this
    assert (condition.this.name, condition.expression.this) == ("Status", "InProgress")


def test_schema_sql_uses_datetimeoffset_for_times():
    """mssql-django stores aware datetimes (USE_TZ) as datetimeoffset; SYSUTCDATETIME()
    converts to it with offset +00:00."""
    text = SCHEMA_SQL.read_text()
    assert "[Started_At] datetimeoffset NOT NULL" in text
    assert " datetime2" not in text and " datetime " not in text


def test_schema_sql_is_what_the_command_prints_now():
    env = dict(os.environ, DEBUG="1", PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "sqlserver_schema"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA_SQL.read_text(), (
        "docs/sqlserver-schema.sql is out of date: "
        "DEBUG=1 python manage.py sqlserver_schema > docs/sqlserver-schema.sql"
    )


# --- docs/sqlserver.md -----------------------------------------------------------------

SQLSERVER_DOC = ROOT / "docs" / "sqlserver.md"


def doc_sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", SQLSERVER_DOC.read_text(), re.S)


def test_every_sql_block_of_the_sql_server_doc_parses_as_tsql():
    blocks = doc_sql_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        sql = re.sub(r"\?", "'sample'", block)
        sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)


def test_the_doc_shows_the_lock_statement_the_code_sends():
    code = fill_placeholders(MICROSOFT.acquire_sql(bracket("RevokeExpiredJobRun")))
    shown = [b for b in doc_sql_blocks() if "WHERE NOT EXISTS" in b]
    assert len(shown) == 1
    doc = fill_placeholders(shown[0].replace("?", "%s"))
    assert parse_tsql(doc) == parse_tsql(code)


def test_the_doc_shows_the_filtered_indexes_of_the_schema():
    schema = SCHEMA_SQL.read_text()
    for line in "".join(doc_sql_blocks()).splitlines():
        if line.strip().startswith("CREATE UNIQUE INDEX"):
            assert line.strip() in schema


@pytest.mark.parametrize("table", JOB_TABLES)
def test_live_run_is_one_select_of_the_inprogress_row_still_beating(table):
    tree = parse_tsql(fill_placeholders(MICROSOFT.live_run_sql(bracket(table)), numbers=True))
    assert isinstance(tree, exp.Select)
    assert tree.find(exp.Table).name == table
    where = tree.args["where"].sql(dialect="tsql")
    assert "[Status] = 'InProgress'" in where
    assert "COALESCE([Heartbeat_At], [Started_At]) >=" in where
    assert "SYSUTCDATETIME" in function_names(tree)
