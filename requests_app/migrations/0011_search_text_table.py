"""The searched text of each request in a table of its own, UserAccessRequestSearch, on
PostgreSQL only (docs/schema.md): its trigram index replaces 0004's on UserAccessRequest,
so a revoke, which changes none of the searched columns, writes no trigram. Triggers on
UserAccessRequest keep the table; they are created before it is filled, in the same
transaction, so no write is missed. SQLite and SQL Server: nothing."""

from django.db import migrations

from accessmgr.schema import DialectOperation


class SearchTextTable(DialectOperation):
    """The dialect's search text table, triggers and index (where search_text_table)."""

    description = "Move the request search's text and trigram index to UserAccessRequestSearch (PostgreSQL only)"

    def forwards(self, dialect):
        return dialect.search_text_install_statements() if dialect.search_text_table else ()

    def backwards(self, dialect):
        return dialect.search_text_drop_statements() if dialect.search_text_table else ()


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0010_accessevent_no_pattern_index"),
    ]

    operations = [SearchTextTable()]
