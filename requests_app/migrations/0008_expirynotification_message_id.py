from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0007_useraccessrequest_requester"),
    ]

    operations = [
        migrations.AddField(
            model_name="expirynotification",
            name="message_id",
            field=models.CharField(blank=True, db_column="Message_Id", max_length=255, null=True),
        ),
    ]
