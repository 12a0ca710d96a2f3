"""NotificationClaim.Request_Id without its LIKE-pattern index on PostgreSQL: claims are
looked up by (request, type, expiry), never by a prefix of the request id."""

from django.db import migrations

from accessmgr.schema import DropPatternIndex


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_notification_claim"),
    ]

    operations = [DropPatternIndex("notificationclaim", "request")]
