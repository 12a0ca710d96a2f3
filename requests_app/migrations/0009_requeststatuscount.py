"""RequestStatusCount: the requests of each status, kept by triggers on UserAccessRequest
(docs/schema.md). The triggers are created before the table is filled, in the same
transaction, so no write is missed or counted twice."""

from django.db import migrations, models

from accessmgr.schema import DialectOperation


class StatusCountTriggers(DialectOperation):
    """The dialect's triggers on UserAccessRequest, then the table filled from its rows."""

    description = "Create the triggers that keep RequestStatusCount, and fill it"

    def forwards(self, dialect):
        return (*dialect.status_counts_install_statements(), dialect.status_counts_fill_sql())

    def backwards(self, dialect):
        return dialect.status_counts_drop_statements()


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
