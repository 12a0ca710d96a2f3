"""AccessEvent.Request_Id without its LIKE-pattern index on PostgreSQL: nothing searches the
audit trail by a prefix of the request id, and the revoke job writes an event per request it
revokes (docs/benchmarks.md)."""

from django.db import migrations

from accessmgr.schema import DropPatternIndex


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0009_requeststatuscount"),
    ]

    operations = [DropPatternIndex("accessevent", "request")]
