"""A trigram index for the All Requests search, on PostgreSQL only.

The search is a case-insensitive "contains" on four columns, which Django writes on
PostgreSQL as UPPER("col"::text) LIKE UPPER('%…%'): no B-tree serves it, a pg_trgm GIN
index on those same four expressions does (from three characters on). One multicolumn
index, so a revoke (which rewrites the row) updates one index, not four. SQLite scans;
SQL Server would use full-text search (docs/sqlserver.md), not built here. Migration 0011
moves the searched text and its index to a table of their own.
"""

from django.db import migrations

from jobs.dialects import REQUEST_SEARCH_INDEX, dialect_for


class CreatePostgresqlSearchIndex(migrations.operations.base.Operation):
    """CREATE EXTENSION pg_trgm and the index on PostgreSQL; nothing elsewhere."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass  # an expression index Django's model state does not describe

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(dialect_for(schema_editor.connection).request_search_index_sql())

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(REQUEST_SEARCH_INDEX)}")

    def describe(self):
        return "Create the pg_trgm GIN index for the request search (PostgreSQL only)"


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0003_revoke_write_indexes"),
    ]

    operations = [CreatePostgresqlSearchIndex()]
