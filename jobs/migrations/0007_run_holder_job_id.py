# The jobId of the run that held the lock, on a Refused run (it was only in Error_Message).

import re

from django.db import migrations, models

_REFUSED = re.compile(r"Refused: run (?P<job_id>[0-9a-f-]{36}) on .* held the lock\.")


def holders_from_messages(apps, schema_editor):
    for name in ("NotificationJobRun", "RevokeExpiredJobRun", "DeliverEventsJobRun"):
        model = apps.get_model("jobs", name)
        for run in model.objects.filter(status="Refused", holder_job_id=None).only("id", "error_message"):
            match = _REFUSED.match(run.error_message or "")
            if match:
                model.objects.filter(id=run.id).update(holder_job_id=match["job_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_deliver_events_job_run"),
    ]

    operations = [
        migrations.AddField(
            model_name=model,
            name="holder_job_id",
            field=models.CharField(blank=True, db_column="Holder_Job_Id", max_length=36, null=True),
        )
        for model in ("delivereventsjobrun", "notificationjobrun", "revokeexpiredjobrun")
    ] + [migrations.RunPython(holders_from_messages, migrations.RunPython.noop)]
