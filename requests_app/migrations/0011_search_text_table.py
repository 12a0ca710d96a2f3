"""The searched text of each request in a table of its own, UserAccessRequestSearch, on
PostgreSQL only (docs/schema.md): its trigram index replaces 0004's on UserAccessRequest,
so a revoke, which changes none of the searched columns, writes no trigram. Triggers on
UserAccessRequest keep the table; they are created before it is filled, in the same
transaction, so no write is missed. SQLite and SQL Server: nothing."""

from django.db import migrations

from jobs.dialects import dialect_for


class SearchTextTable(migrations.operations.base.Operation):
    """The dialect's search text table, triggers and index (where search_text_table)."""

    reduces_to_sql = True
    reversible = True

    def state_forwards(self, app_label, state):
        pass  # a table and triggers the models do not describe

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        dialect = dialect_for(schema_editor.connection)
        if dialect.search_text_table:
            for sql in dialect.search_text_install_statements():
                schema_editor.execute(sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        dialect = dialect_for(schema_editor.connection)
        if dialect.search_text_table:
            for sql in dialect.search_text_drop_statements():
                schema_editor.execute(sql)

    def describe(self):
        return "Move the request search's text and trigram index to UserAccessRequestSearch (PostgreSQL only)"


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0010_accessevent_no_pattern_index"),
    ]

    operations = [SearchTextTable()]
