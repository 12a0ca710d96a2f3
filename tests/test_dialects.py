"""Offline checks of every T-SQL string accessmgr sends to SQL Server / Azure SQL.

No SQL Server runs in CI: each statement of the MICROSOFT dialect (jobs/dialects.py) is
parsed with sqlglot's tsql dialect, after its %s placeholders are replaced by sample
literals, and its shape is asserted. docs/sqlserver-schema.sql is checked the same way
and against what `manage.py sqlserver_schema` prints now.
"""

import dataclasses
import inspect
import itertools
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import sqlglot
from sqlglot import exp

from jobs.dialects import DIALECTS, EVENT_COLUMNS, Dialect, dialect_for
from jobs.management.commands.sqlserver_schema import sqlserver_connection
from jobs.models import JOB_MODELS
from jobs.sending import RECORD_BATCH_ROWS

from .conftest import ROOT

MICROSOFT = dialect_for(sqlserver_connection())  # quoting with mssql-django's own quote_name
POSTGRESQL = replace(DIALECTS["postgresql"], quote=lambda name: f'"{name}"')
SQLITE = replace(DIALECTS["sqlite"], quote=lambda name: f'"{name}"')
JOB_TABLES = [model._meta.db_table for model in JOB_MODELS.values()]
SCHEMA_SQL = ROOT / "docs" / "sqlserver-schema.sql"
MAX_IDS = MICROSOFT.max_parameters - 4  # jobs.revoke.revoke_chunk_ids on SQL Server, at most

# Dialect fields that are not SQL.
NOT_SQL = {"vendor", "quote", "concat"}
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
SAMPLE_ARGUMENTS = {
    "table": JOB_TABLES,
    "count": [3],
    "lock_timeout_ms": [600000],
    "seconds": [10.0],
    "index": ["x_like"],
}


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
    """Every SQL text of the MICROSOFT dialect: its string fields, what each *_sql method
    returns for sample arguments and each statement a *_statements method returns. A method
    with other parameters must be added here."""
    texts = {}
    for field in dataclasses.fields(Dialect):
        value = getattr(MICROSOFT, field.name)
        if field.name not in NOT_SQL and isinstance(value, str) and value:
            texts[field.name] = value
    for name, method in inspect.getmembers(Dialect, inspect.isfunction):
        if name.endswith("_statements"):
            try:
                statements = method(MICROSOFT)
            except NotImplementedError:
                continue  # nothing SQL Server is sent
            texts.update({f"{name}[{i}]": statement for i, statement in enumerate(statements)})
            continue
        if not name.endswith("_sql"):
            continue
        params = [
            p.name
            for p in inspect.signature(method).parameters.values()
            if p.name != "self" and p.kind is not p.KEYWORD_ONLY  # keyword-only: defaults
        ]
        assert set(params) <= set(SAMPLE_ARGUMENTS), f"add samples for Dialect.{name}{params}"
        for sample in itertools.product(*(SAMPLE_ARGUMENTS[p] for p in params)):
            try:
                texts[f"{name}({', '.join(map(str, sample))})"] = getattr(MICROSOFT, name)(*sample)
            except NotImplementedError:
                continue  # not a statement SQL Server is sent
    return texts


def test_every_microsoft_string_is_collected():
    texts = microsoft_strings()
    assert {"now", "ago", "lock_hint"} <= set(texts)
    assert {f"acquire_sql({t})" for t in JOB_TABLES} <= set(texts)
    assert {"revocations_insert_sql(3)", "revoke_update_sql(3)", "revocation_events_insert_sql(3)"} <= set(
        texts
    )
    assert {
        "notifications_record_sql(NotificationJobRun, 3)",
        "notifications_claim_sql(NotificationJobRun, 3)",
    } <= set(texts)
    assert "revoke_events_insert_sql(3)" in texts
    assert {
        "status_counts_fill_sql()",
        "status_counts_install_statements[0]",
        "status_counts_drop_statements[0]",
    } <= set(texts)


@pytest.mark.parametrize("name", sorted(microsoft_strings()))
def test_microsoft_sql_never_uses_local_time_or_stray_percent_signs(name):
    text = microsoft_strings()[name]
    assert not LOCAL_TIME.search(text), f"{name}: use SYSUTCDATETIME(), the server's UTC clock"
    # mssql-django only %-formats a statement that has parameters: a literal %% would
    # reach the server doubled in a statement without any.
    assert "%" not in text.replace("%s", ""), name


def test_sql_server_sessions_set_the_lock_timeout_of_the_settings(settings):
    sql = MICROSOFT.session_setup_sql(settings.DB_LOCK_TIMEOUT_MS)
    [item] = parse_tsql(sql).expressions
    assert item.this.this.name.upper() == "LOCK_TIMEOUT"
    assert int(item.this.expression.name) == settings.JOB_STALE_AFTER_SECONDS * 1000
    # PostgreSQL sets its limits at connect time (tests/test_database_sessions.py); SQLite has none.
    assert DIALECTS["postgresql"].session_setup_sql(1) is None
    assert DIALECTS["sqlite"].session_setup_sql(1) is None


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
        f"UPDATE {MICROSOFT.quote(table)} SET [Status] = 'Abandoned', [Completed_At] = {MICROSOFT.now} "
        f"WHERE [Status] = 'InProgress' AND [Heartbeat_At] < {MICROSOFT.ago}"
    )
    tree = parse_tsql(fill_placeholders(sql, numbers=True))
    assert isinstance(tree, exp.Update)
    assert "SYSUTCDATETIME" in function_names(tree)
    select = parse_tsql(
        fill_placeholders(
            f"SELECT [Job_Id] FROM {MICROSOFT.quote(table)} WHERE [Heartbeat_At] >= {MICROSOFT.ago}",
            numbers=True,
        )
    )
    assert isinstance(select, exp.Select)


@pytest.mark.parametrize("table", JOB_TABLES)
def test_acquire_is_one_insert_select_where_not_exists_with_updlock_holdlock(table):
    sql = MICROSOFT.acquire_sql(table)
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
    sql = MICROSOFT.revocations_insert_sql(3)
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


@pytest.mark.parametrize(
    "dialect,read",
    [(MICROSOFT, "tsql"), (SQLITE, "sqlite"), (POSTGRESQL, "postgres")],
    ids=["microsoft", "sqlite", "postgresql"],
)
def test_revoke_events_insert_is_one_insert_select_of_the_revoked_ids_by_primary_key(dialect, read):
    sql = dialect.revoke_events_insert_sql(3)
    assert sql.count("%s") == 5  # event type, job id, then the 3 ids
    filled = (
        fill_placeholders(sql, numbers=True) if read == "tsql" else sql.replace("%s", "7").replace("%%", "%")
    )
    (tree,) = sqlglot.parse(filled, read=read, error_level=sqlglot.ErrorLevel.RAISE)

    assert isinstance(tree, exp.Insert)
    assert tree.this.this.name == "WebhookEvent"
    columns = [column.name for column in tree.this.expressions]
    assert columns == ["Type", "Request_Id", "Job_Id", "Created_At"]
    select = tree.expression
    assert isinstance(select, exp.Select)
    assert len(select.expressions) == len(columns)
    assert select.expressions[1].name == "Request_Id"
    assert isinstance(select.expressions[2], exp.Literal)  # the job id parameter
    # the revoked ids by primary key: no scan of RevokedAccess (its rows of this run grow)
    assert select.args["from_"].this.name == "UserAccessRequest"
    assert not select.args.get("joins")
    ids = select.args["where"].this
    assert isinstance(ids, exp.In) and ids.this.name == "Id" and len(ids.expressions) == 3
    if read == "tsql":
        assert function_names(select.expressions[3]) == {"SYSUTCDATETIME"}
    assert dialect.revoke_events_insert_sql(MAX_IDS).count("%s") == MAX_IDS + 2 < 2100


@pytest.mark.parametrize(
    "dialect,read",
    [(MICROSOFT, "tsql"), (SQLITE, "sqlite"), (POSTGRESQL, "postgres")],
    ids=["microsoft", "sqlite", "postgresql"],
)
@pytest.mark.parametrize(
    "method,target,columns,params",
    [
        ("notice_events_insert_sql", "AccessEvent", list(EVENT_COLUMNS), 4),
        ("notice_outbox_insert_sql", "WebhookEvent", ["Type", "Request_Id", "Job_Id", "Created_At"], 2),
    ],
    ids=["audit", "outbox"],
)
def test_the_recorders_events_are_one_insert_select_of_the_notices_written_by_primary_key(
    dialect, read, method, target, columns, params
):
    sql = getattr(dialect, method)(3)
    assert sql.count("%s") == params + 3
    filled = (
        fill_placeholders(sql, numbers=True) if read == "tsql" else sql.replace("%s", "7").replace("%%", "%")
    )
    (tree,) = sqlglot.parse(filled, read=read, error_level=sqlglot.ErrorLevel.RAISE)

    assert isinstance(tree, exp.Insert) and tree.this.this.name == target
    assert [column.name for column in tree.this.expressions] == columns
    select = tree.expression
    assert len(select.expressions) == len(columns)
    assert select.args["from_"].this.name == "ExpiryNotification" and not select.args.get("joins")
    ids = next(node for node in select.args["where"].find_all(exp.In))
    assert ids.this.name == "Id" and len(ids.expressions) == 3
    assert [o.this.name for o in select.args["order"].expressions] == ["Id"]  # events in the notices' order
    assert getattr(dialect, method)(RECORD_BATCH_ROWS).count("%s") == RECORD_BATCH_ROWS + params < 2100


def test_revocations_insert_parameters_stay_below_the_sql_server_limit():
    from jobs.revoke import revoke_chunk_ids

    most = revoke_chunk_ids(replace(MICROSOFT, revoke_chunk_ids=100_000))
    assert most == MAX_IDS
    assert MICROSOFT.revocations_insert_sql(most).count("%s") == most + 3 <= 2100
    assert MICROSOFT.revoke_update_sql(most).count("%s") == most
    with pytest.raises(ValueError):
        MICROSOFT.revocations_insert_sql(0)


def _ctes(tree: exp.Expression) -> dict[str, exp.Expression]:
    return {cte.alias: cte.this for cte in tree.args["with_"].expressions}


def test_revoke_chunk_on_postgresql_is_one_statement_writing_revocations_audit_and_outbox():
    from requests_app.models import AccessEvent

    sql = POSTGRESQL.revoke_chunk_sql()
    # the ids as one array, revoked at, revoked by, job id, audit reason, event type
    assert sql.count("%s") == 6
    filled = sql.replace("%s", "ARRAY[1, 2, 3]", 1).replace("%s", "'sample'")
    statements = sqlglot.parse(filled, read="postgres", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(statements) == 1
    tree = statements[0]

    assert isinstance(tree, exp.Select)  # the four counts
    assert len(tree.expressions) == 4
    ctes = _ctes(tree)
    assert list(ctes) == ["revoked", "recorded", "audited", "announced"]

    update = ctes["revoked"]
    assert isinstance(update, exp.Update)
    assert update.this.this.name == "UserAccessRequest"
    (assignment,) = update.expressions
    assert (assignment.this.name, assignment.expression.this) == ("Status", "Revoked")
    # the ids joined as unnest(array): index lookups whatever the table's statistics
    assert update.args["from_"].find(exp.Unnest) is not None
    ids, status = update.args["where"].this.this, update.args["where"].this.expression
    assert (ids.this.name, ids.expression.name) == ("Id", "id")
    assert (status.this.name, status.expression.this) == ("Status", "Active")
    assert [column.name for column in update.args["returning"].expressions] == ["Request_Id"]

    recorded = ctes["recorded"]
    assert isinstance(recorded, exp.Insert) and recorded.this.this.name == "RevokedAccess"
    columns = [column.name for column in recorded.this.expressions]
    assert columns == ["Request_Id", "Revoked_Dt", "Revoked_By", "Job_Id"]
    assert recorded.expression.args["from_"].this.name == "revoked"  # only the rows the UPDATE changed
    assert [column.name for column in recorded.args["returning"].expressions] == columns

    audited = ctes["audited"]
    assert isinstance(audited, exp.Insert) and audited.this.this.name == "AccessEvent"
    assert [c.name for c in audited.this.expressions] == list(EVENT_COLUMNS)
    select = audited.expression
    assert select.args["from_"].this.name == "recorded"
    assert select.expressions[1].this == AccessEvent.Type.REVOKED
    assert [e.name for e in select.expressions[2:5]] == ["Revoked_Dt", "Revoked_By", "Job_Id"]

    announced = ctes["announced"]
    assert isinstance(announced, exp.Insert) and announced.this.this.name == "WebhookEvent"
    assert [c.name for c in announced.this.expressions] == ["Type", "Request_Id", "Job_Id", "Created_At"]
    assert announced.expression.args["from_"].this.name == "recorded"


def test_revoke_chunk_on_postgresql_without_a_kind_of_event_leaves_its_insert_out():
    for audit, outbox, present, count in (
        (False, True, ["revoked", "recorded", "announced"], 5),
        (True, False, ["revoked", "recorded", "audited"], 5),
        (False, False, ["revoked", "recorded"], 4),
    ):
        sql = POSTGRESQL.revoke_chunk_sql(audit=audit, outbox=outbox)
        assert sql.count("%s") == count
        filled = sql.replace("%s", "ARRAY[1, 2, 3]", 1).replace("%s", "'sample'")
        (tree,) = sqlglot.parse(filled, read="postgres", error_level=sqlglot.ErrorLevel.RAISE)
        assert list(_ctes(tree)) == present
        assert len(tree.expressions) == 4


@pytest.mark.parametrize("dialect", [MICROSOFT, SQLITE], ids=["microsoft", "sqlite"])
def test_revoke_chunk_in_one_statement_only_where_the_database_has_one(dialect):
    # SQL Server: the target of OUTPUT … INTO may not be on either side of a FOREIGN KEY
    # (RevokedAccess.Request_Id is one); SQLite: no data-modifying CTE. Both send
    # revoke_update_sql, then revocations_insert_sql.
    assert not dialect.revoke_in_one_statement
    with pytest.raises(NotImplementedError):
        dialect.revoke_chunk_sql()


@pytest.mark.parametrize(
    "dialect,read", [(SQLITE, "sqlite"), (POSTGRESQL, "postgres")], ids=["sqlite", "postgresql"]
)
def test_revoke_update_marks_the_active_ids_and_returns_their_ids(dialect, read):
    sql = dialect.revoke_update_sql(3)
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
        dialect.revoke_update_sql(0)


def test_revoke_update_on_sql_server_outputs_the_ids_it_changed_into_a_table_variable():
    # OUTPUT without INTO is refused on a table with an enabled trigger (error 334), and
    # UserAccessRequest has RequestStatusCount's: one batch, whose one result set is the ids.
    sql = MICROSOFT.revoke_update_sql(3)
    statements = sqlglot.parse(
        fill_placeholders(sql, numbers=True), read="tsql", error_level=sqlglot.ErrorLevel.RAISE
    )
    nocount, declare, update, count_on, select = statements
    assert (
        nocount.sql(dialect="tsql").upper() == "SET NOCOUNT ON"
        and count_on.sql(dialect="tsql").upper() == "SET NOCOUNT OFF"
    )
    assert isinstance(declare, exp.Declare)
    assert isinstance(update, exp.Update)
    assert update.this.name == "UserAccessRequest"
    assert "OUTPUT INSERTED.[Id] INTO @revoked WHERE" in sql
    assert "[Status] = 'Active'" in update.args["where"].sql(dialect="tsql")
    assert isinstance(select, exp.Select) and select.args["from_"].this.sql(dialect="tsql") == "@revoked"


def _counted_statuses(tree: exp.Expression) -> list[str]:
    return [t.name for t in tree.find_all(exp.Table)]


@pytest.mark.parametrize(
    "dialect,read",
    [(MICROSOFT, "tsql"), (SQLITE, "sqlite"), (POSTGRESQL, "postgres")],
    ids=["microsoft", "sqlite", "postgresql"],
)
def test_status_counts_fill_is_one_insert_select_grouped_by_status(dialect, read):
    (insert,) = sqlglot.parse(
        dialect.status_counts_fill_sql(), read=read, error_level=sqlglot.ErrorLevel.RAISE
    )
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.name == "RequestStatusCount"
    assert [c.name for c in insert.this.expressions] == ["Status", "N"]
    select = insert.expression
    assert [g.sql() for g in select.args["group"].expressions] == ['s."Status"']
    assert {"Active", "Revoked"} <= {lit.this for lit in select.find_all(exp.Literal)}


def test_status_counts_trigger_on_sql_server_is_one_merge_over_inserted_and_deleted():
    (trigger,) = MICROSOFT.status_counts_install_statements()
    head, body = trigger.split(" AS\n", 1)
    assert head == "CREATE TRIGGER [uar_status_count] ON [UserAccessRequest] AFTER INSERT, UPDATE, DELETE"
    assert body.startswith("BEGIN\n") and body.endswith("\nEND")
    statements = sqlglot.parse(
        body.removeprefix("BEGIN\n").removesuffix("\nEND"), read="tsql", error_level=sqlglot.ErrorLevel.RAISE
    )
    nocount, merge = statements
    assert nocount.sql(dialect="tsql").upper() == "SET NOCOUNT ON"  # no row counts for the caller to misread
    assert isinstance(merge, exp.Merge)
    assert merge.this.name == "RequestStatusCount"
    assert {"inserted", "deleted"} <= set(_counted_statuses(merge.args["using"]))
    assert "HOLDLOCK" in merge.this.sql(dialect="tsql")  # the upsert under a key-range lock
    # the whole statement as the server gets it parses too (sqlglot keeps CREATE TRIGGER as a command)
    sqlglot.parse(trigger, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    (drop,) = MICROSOFT.status_counts_drop_statements()
    assert isinstance(parse_tsql(drop), exp.Drop)


def test_status_counts_on_postgresql_fire_once_per_statement_over_transition_tables():
    function, *triggers = POSTGRESQL.status_counts_install_statements()
    assert function.startswith('CREATE FUNCTION "uar_status_count"() RETURNS trigger LANGUAGE plpgsql')
    body = function.split("$body$")[1]
    upserts = re.findall(r"INSERT INTO .*?;", body)
    assert len(upserts) == 3  # insert, delete, update
    for upsert in upserts:
        (tree,) = sqlglot.parse(upsert, read="postgres", error_level=sqlglot.ErrorLevel.RAISE)
        assert isinstance(tree, exp.Insert) and tree.this.this.name == "RequestStatusCount"
        assert "ORDER BY" in upsert and "ON CONFLICT" in upsert  # rows locked in Status order
    events = [re.search(r"AFTER (\w+)", t).group(1) for t in triggers]
    assert events == ["INSERT", "DELETE", "UPDATE", "TRUNCATE"]
    assert all("FOR EACH STATEMENT" in t for t in triggers)
    assert "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows" in triggers[2]


def test_status_counts_on_sqlite_fire_per_row_and_on_a_status_change_only():
    triggers = SQLITE.status_counts_install_statements()
    assert [re.search(r"AFTER (INSERT|DELETE|UPDATE OF \S+)", t).group(1) for t in triggers] == [
        "INSERT",
        "DELETE",
        'UPDATE OF "Status"',
    ]
    assert 'WHEN OLD."Status" IS NOT NEW."Status"' in triggers[2]
    assert all("FOR EACH ROW" in t for t in triggers)


def test_a_database_without_returning_is_refused(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    with pytest.raises(NotImplementedError, match="RETURNING"):
        dialect_for(connection)


NOTIFICATION_COLUMNS = [
    "Request_Id",
    "Notification_Type",
    "Sent_At",
    "Sent_To",
    "Job_Id",
    "Expires_On",
    "Message_Id",
]
RECORD_RETURNS = ["Id", "Request_Id", "Notification_Type", "Sent_At"]
# The two statements of a notice: its claim before the send, its record after it.
NOTICE_WRITES = {
    "record": ("notifications_record_sql", "ExpiryNotification", "Sent_At"),
    "claim": ("notifications_claim_sql", "NotificationClaim", "Claimed_At"),
}


def _with_stamp(columns: list[str], stamp: str) -> list[str]:
    return [stamp if c == "Sent_At" else c for c in columns]


@pytest.mark.parametrize("write", sorted(NOTICE_WRITES))
def test_notice_writes_on_sql_server_are_one_fenced_insert_select_with_output(write):
    method, target, stamp = NOTICE_WRITES[write]
    sql = getattr(MICROSOFT, method)("NotificationJobRun", 3)
    assert sql.count("%s") == 3 * 6 + 1
    insert = parse_tsql(sql.replace("%s", "'x'"))
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.name == target
    assert [c.name for c in insert.this.expressions] == _with_stamp(NOTIFICATION_COLUMNS, stamp)
    returned = [c.name for c in insert.args["returning"].expressions]  # OUTPUT INSERTED.…
    assert returned == _with_stamp(RECORD_RETURNS, stamp)
    select = insert.expression
    assert isinstance(select, exp.Select)
    assert function_names(select.expressions[2]) == {"SYSUTCDATETIME"}
    values = select.find(exp.Values)
    assert len(values.expressions) == 3 and all(len(row.expressions) == 6 for row in values.expressions)
    where = select.args["where"].sql(dialect="tsql")
    # The fence: the run's own row, still InProgress, under an update lock; no duplicate per expiry.
    assert "EXISTS(SELECT 1 FROM [NotificationJobRun] WITH (UPDLOCK, HOLDLOCK)" in where
    assert "[Status] = 'InProgress'" in where
    assert f"NOT EXISTS(SELECT 1 FROM [{target}] AS e WITH (UPDLOCK, HOLDLOCK)" in where
    assert "[Expires_On] = v.c5" in where


@pytest.mark.parametrize("write", sorted(NOTICE_WRITES))
@pytest.mark.parametrize(
    "dialect,read", [(SQLITE, "sqlite"), (POSTGRESQL, "postgres")], ids=["sqlite", "postgresql"]
)
def test_notice_writes_are_one_fenced_insert_that_skips_duplicates(dialect, read, write):
    method, target, stamp = NOTICE_WRITES[write]
    sql = getattr(dialect, method)("NotificationJobRun", 2)
    if dialect.array_parameters:  # one array per column: the same statement for any count
        assert sql.count("%s") == 6 + 1 and sql == getattr(dialect, method)("NotificationJobRun", 500)
        assert "unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[]" in sql
    else:
        assert sql.count("%s") == 2 * 6 + 1
    (insert,) = sqlglot.parse(sql.replace("%s", "'x'").replace("%%", "%"), read=read)
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.name == target
    assert [c.name for c in insert.this.expressions] == _with_stamp(NOTIFICATION_COLUMNS, stamp)
    assert [c.name for c in insert.args["returning"].expressions] == _with_stamp(RECORD_RETURNS, stamp)
    assert "ON CONFLICT DO NOTHING" in sql
    assert 'FROM "NotificationJobRun" WHERE "Job_Id" = %s AND "Status" = \'InProgress\'' in sql
    if dialect is POSTGRESQL:
        assert "'InProgress' FOR SHARE)" in sql  # a taker's abandon waits for the batch


def test_statement_timeout_bounds_heartbeats_and_records():
    assert POSTGRESQL.statement_timeout_sql(2.5) == "SET LOCAL statement_timeout = 2500"
    [item] = parse_tsql(MICROSOFT.statement_timeout_sql(2.5)).expressions
    assert item.this.this.name.upper() == "LOCK_TIMEOUT" and int(item.this.expression.name) == 2500
    assert SQLITE.statement_timeout_sql(2.5) is None


def test_revocation_events_insert_is_one_insert_select_of_the_revoked_ids_by_primary_key():
    from requests_app.models import AccessEvent

    sql = MICROSOFT.revocation_events_insert_sql(3)
    assert sql.count("%s") == 7  # occurred at, actor, job id, reason, then the 3 ids
    tree = parse_tsql(fill_placeholders(sql, numbers=True))
    assert isinstance(tree, exp.Insert)
    assert tree.this.this.name == "AccessEvent"
    assert [c.name for c in tree.this.expressions] == list(EVENT_COLUMNS)
    select = tree.expression
    assert isinstance(select, exp.Select)
    assert len(select.expressions) == len(EVENT_COLUMNS)
    assert select.expressions[0].name == "Request_Id"
    assert select.expressions[1].this == AccessEvent.Type.REVOKED  # the Event_Type literal
    # the revoked ids by primary key: no scan of RevokedAccess (its rows of this run grow)
    assert select.args["from_"].this.name == "UserAccessRequest"
    assert not select.args.get("joins")
    where = select.args["where"].this
    assert isinstance(where, exp.In) and where.this.name == "Id" and len(where.expressions) == 3
    assert MICROSOFT.revocation_events_insert_sql(MAX_IDS).count("%s") == MAX_IDS + 4 <= 2100
    with pytest.raises(ValueError):
        MICROSOFT.revocation_events_insert_sql(0)


def test_lock_hint_parses_as_a_table_hint():
    tree = parse_tsql(f"SELECT 1 FROM [T]{MICROSOFT.lock_hint}")
    assert tree.find(exp.WithTableHint) is not None


# --- docs/sqlserver-schema.sql ---------------------------------------------------------


def schema_batches() -> list[str]:
    """The file's batches, as sqlcmd sends them: split on GO lines (sqlglot has no GO)."""
    return re.split(r"^GO$", SCHEMA_SQL.read_text(), flags=re.M)


def schema_statements() -> list[exp.Expression]:
    return [
        statement
        for batch in schema_batches()
        for statement in sqlglot.parse(batch, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    ]


def test_schema_sql_has_each_trigger_alone_in_its_batch():
    triggers = [b for b in schema_batches() if "CREATE TRIGGER" in b]
    assert len(triggers) == 1
    assert triggers[0].strip().startswith("CREATE TRIGGER [uar_status_count]")
    assert triggers[0].strip().endswith("END;")


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
        "NotificationFailure",
        "NotificationClaim",
        "RevokeExpiredJobRun",
        "ScheduledTick",
        "PrunedRunTotals",
        "DeliverEventsJobRun",
        "WebhookEndpoint",
        "WebhookEvent",
        "WebhookDelivery",
        "WebhookAttempt",
        "RequestStatusCount",
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
    code = fill_placeholders(MICROSOFT.acquire_sql("RevokeExpiredJobRun"))
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
    tree = parse_tsql(fill_placeholders(MICROSOFT.live_run_sql(table), numbers=True))
    assert isinstance(tree, exp.Select)
    assert tree.find(exp.Table).name == table
    where = tree.args["where"].sql(dialect="tsql")
    assert "[Status] = 'InProgress'" in where
    assert "COALESCE([Heartbeat_At], [Started_At]) >=" in where
    assert "SYSUTCDATETIME" in function_names(tree)
