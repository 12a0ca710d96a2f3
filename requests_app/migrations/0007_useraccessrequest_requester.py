"""Requester identity (issue 14): UserAccessRequest.Requester_User_Id, whose request it is
(NULL for existing rows and the original system's), and the permissions to create for
others and to view every request."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0006_access_lifecycle"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="useraccessrequest",
            options={
                "permissions": [
                    ("create_for_others", "Can create access requests for other people"),
                    ("view_all_requests", "Can view every access request and the job pages"),
                ]
            },
        ),
        migrations.AddField(
            model_name="useraccessrequest",
            name="requester",
            field=models.ForeignKey(
                blank=True,
                db_column="Requester_User_Id",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="access_requests",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
