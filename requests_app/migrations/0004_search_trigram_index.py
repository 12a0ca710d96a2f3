"""A trigram index for the All Requests search, on PostgreSQL only.

The search is a case-insensitive "contains" on four columns, which Django writes on
PostgreSQL as UPPER("col"::text) LIKE UPPER('%…%'): no B-tree serves it, a pg_trgm GIN
index on those same four expressions does (from three characters on). One multicolumn
index, so a revoke (which rewrites the row) updates one index, not four. SQLite scans;
SQL Server would use full-text search (docs/sqlserver.md), not built here. Migration 0011
moves the searched text and its index to a table of their own.
"""

from django.db import migrations

from accessmgr.schema import DialectOperation
from jobs.dialects import REQUEST_SEARCH_INDEX


class CreatePostgresqlSearchIndex(DialectOperation):
    """CREATE EXTENSION pg_trgm and the index on PostgreSQL; nothing elsewhere."""

    description = "Create the pg_trgm GIN index for the request search (PostgreSQL only)"

    def forwards(self, dialect):
        if dialect.vendor != "postgresql":
            return ()
        return ("CREATE EXTENSION IF NOT EXISTS pg_trgm", dialect.request_search_index_sql())

    def backwards(self, dialect):
        if dialect.vendor != "postgresql":
            return ()
        return (f"DROP INDEX IF EXISTS {dialect.quote(REQUEST_SEARCH_INDEX)}",)


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0003_revoke_write_indexes"),
    ]

    operations = [CreatePostgresqlSearchIndex()]
