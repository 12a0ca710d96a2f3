"""The access lifecycle: the AccessEvent audit trail, and ExpiryNotification.Expires_On
(the expiry a reminder was about), so the unique key becomes (Request_Id,
Notification_Type, Expires_On) and an extension re-arms the reminders. Existing
reminders were about their request's current expiry."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def notifications_expiry_fill(apps, schema_editor):
    ExpiryNotification = apps.get_model("requests_app", "ExpiryNotification")
    UserAccessRequest = apps.get_model("requests_app", "UserAccessRequest")
    expiry = UserAccessRequest.objects.filter(request_id=OuterRef("request_id")).values("expires_on")[:1]
    ExpiryNotification.objects.using(schema_editor.connection.alias).update(expires_on=Subquery(expiry))


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0005_status_expires_id_index"),
    ]

    operations = [
        # Nullable, so the original system's INSERT (without it) still works; accessmgr
        # always sets it.
        migrations.AddField(
            model_name="expirynotification",
            name="expires_on",
            field=models.DateTimeField(db_column="Expires_On", null=True),
        ),
        migrations.RunPython(notifications_expiry_fill, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(
            model_name="expirynotification",
            name="expirynotification_request_type_uniq",
        ),
        migrations.AddConstraint(
            model_name="expirynotification",
            constraint=models.UniqueConstraint(
                fields=("request", "notification_type", "expires_on"),
                name="expirynotification_request_type_expiry_uniq",
            ),
        ),
        migrations.CreateModel(
            name="AccessEvent",
            fields=[
                ("id", models.BigAutoField(db_column="Id", primary_key=True, serialize=False)),
                (
                    "event_type",
                    models.CharField(
                        choices=[
                            ("Created", "Created"),
                            ("Extended", "Extended"),
                            ("Revoked", "Revoked"),
                            ("Reminder Sent", "Reminder Sent"),
                            ("Access Ended Sent", "Access Ended Sent"),
                        ],
                        db_column="Event_Type",
                        max_length=30,
                    ),
                ),
                ("occurred_at", models.DateTimeField(db_column="Occurred_At")),
                ("actor", models.CharField(db_column="Actor", max_length=200)),
                ("job_id", models.CharField(blank=True, db_column="Job_Id", max_length=36, null=True)),
                ("reason", models.CharField(blank=True, db_column="Reason", default="", max_length=500)),
                ("old_expires_on", models.DateTimeField(blank=True, db_column="Old_Expires_On", null=True)),
                ("new_expires_on", models.DateTimeField(blank=True, db_column="New_Expires_On", null=True)),
                ("detail", models.CharField(blank=True, db_column="Detail", default="", max_length=300)),
                (
                    "request",
                    models.ForeignKey(
                        db_column="Request_Id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="requests_app.useraccessrequest",
                        to_field="request_id",
                    ),
                ),
            ],
            options={
                "db_table": "AccessEvent",
                "indexes": [models.Index(fields=["occurred_at", "id"], name="accessevent_occurred_idx")],
            },
        ),
    ]
