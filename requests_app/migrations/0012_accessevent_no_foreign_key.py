"""AccessEvent.Request_Id without its foreign key in the database (docs/schema.md): its
check ran once per event at commit, about a seventh of the revoke job's time. Django still
deletes a request's events with it; the index on the column stays."""

import django.db.models.deletion
from django.db import migrations, models

from accessmgr.schema import DropForeignKey


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0011_search_text_table"),
    ]

    operations = [
        DropForeignKey(
            model_name="accessevent",
            name="request",
            field=models.ForeignKey(
                db_column="Request_Id",
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="requests_app.useraccessrequest",
                to_field="request_id",
            ),
        ),
    ]
