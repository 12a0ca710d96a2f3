"""RequestStatusCount: the requests of each status, kept by triggers on UserAccessRequest
(docs/schema.md). The triggers are created before the table is filled, in the same
transaction, so no write is missed or counted twice."""

from django.db import migrations, models

from jobs.dialects import dialect_for


class StatusCountTriggers(migrations.operations.base.Operation):
    """The dialect's triggers on UserAccessRequest, then the table filled from its rows."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass  # triggers are not part of Django's model state

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        dialect = dialect_for(schema_editor.connection)
        for sql in dialect.status_counts_install_statements():
            schema_editor.execute(sql)
        schema_editor.execute(dialect.status_counts_fill_sql())

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        for sql in dialect_for(schema_editor.connection).status_counts_drop_statements():
            schema_editor.execute(sql)

    def describe(self):
        return "Create the triggers that keep RequestStatusCount, and fill it"


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0008_expirynotification_message_id"),
    ]

    operations = [
        migrations.CreateModel(
            name="RequestStatusCount",
            fields=[
                ("status", models.CharField(db_column="Status", max_length=20, primary_key=True, serialize=False)),
                ("n", models.BigIntegerField(db_column="N")),
            ],
            options={"db_table": "RequestStatusCount"},
        ),
        StatusCountTriggers(),
    ]
