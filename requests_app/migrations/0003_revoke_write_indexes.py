"""Indexes no query reads, which every revoked row had to write.

A revoke changes Status, which is in two indexes, so on PostgreSQL it is never a HOT
update: the new row version gets an entry in EVERY index of UserAccessRequest, and its
RevokedAccess row one in every index there. Two kinds of those indexes serve nothing:

- uar_email_idx (Requestor_Email): the only query on the column is the search's
  case-insensitive "contains" (icontains: UPPER(…) LIKE UPPER('%…%')), which no B-tree
  serves on any of the three databases;
- the `…_like` indexes Django adds on PostgreSQL for each unique or foreign-key varchar
  (Request_Id here; varchar_pattern_ops, for case-sensitive LIKE 'abc%'), which nothing
  in accessmgr runs on a hot path (only seed_demo's clean-up of its own demo rows).

Together they were a sixth of the revoke job's database CPU on PostgreSQL (100,000 rows:
1.83 s instead of 2.2 s; bench/revoke.py).
The `…_like` ones exist only on PostgreSQL, so only there is there anything to drop;
Django drops them with IF EXISTS itself when a later AlterField would, so their absence
breaks no future migration.
"""

from django.db import migrations

from accessmgr.schema import DropPatternIndex


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0002_status_created_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="useraccessrequest",
            name="uar_email_idx",
        ),
        DropPatternIndex("useraccessrequest", "request_id"),
        DropPatternIndex("revokedaccess", "request"),
        DropPatternIndex("expirynotification", "request"),
    ]
