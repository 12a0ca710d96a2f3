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

# (table, Django's name for its `…_like` index on Request_Id)
LIKE_INDEXES = [
    ("UserAccessRequest", "UserAccessRequest_Request_Id_3e08fd1d_like"),
    ("RevokedAccess", "RevokedAccess_Request_Id_20b65588_like"),
    ("ExpiryNotification", "ExpiryNotification_Request_Id_d6411509_like"),
]


class DropPostgresqlLikeIndexes(migrations.operations.base.Operation):
    """DROP the LIKE_INDEXES on PostgreSQL; nothing to do on any other database (so the
    SQL Server DDL shows only this description). Reversible: backwards recreates them."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass  # Django's model state has no record of these indexes

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for _table, name in LIKE_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        for table, name in LIKE_INDEXES:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
                f"({quote('Request_Id')} varchar_pattern_ops)"
            )

    def describe(self):
        return "Drop the varchar_pattern_ops (…_like) indexes on Request_Id (PostgreSQL only)"


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0002_status_created_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="useraccessrequest",
            name="uar_email_idx",
        ),
        DropPostgresqlLikeIndexes(),
    ]
