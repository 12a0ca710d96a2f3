"""Migration operations the apps share (their SQL is in jobs.dialects)."""

from collections.abc import Sequence

from django.db import migrations

from jobs.dialects import Dialect, dialect_for


class DialectOperation(migrations.operations.base.Operation):
    """A change Django's model state does not describe (triggers, an expression index, a
    table the triggers keep): the statements forwards(dialect) gives, in order, and when
    reversed those of backwards(dialect); none where the database has nothing to do. A
    subclass sets `description` and the two methods."""

    reduces_to_sql = True
    reversible = True
    description = ""

    def forwards(self, dialect: Dialect) -> Sequence[str]:
        raise NotImplementedError

    def backwards(self, dialect: Dialect) -> Sequence[str]:
        raise NotImplementedError

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        for sql in self.forwards(dialect_for(schema_editor.connection)):
            schema_editor.execute(sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        for sql in self.backwards(dialect_for(schema_editor.connection)):
            schema_editor.execute(sql)

    def describe(self):
        return self.description


class DropPatternIndex(migrations.operations.base.Operation):
    """Drop the LIKE-pattern twin (varchar_pattern_ops) Django makes on PostgreSQL beside
    the index of a varchar foreign key, where nothing filters the column with LIKE: a
    second index every insert pays for. Nothing on the other databases, which make none.
    Django's model state does not know that index, so the state is left as it is."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, field_name: str):
        self.model_name, self.field_name = model_name, field_name

    def state_forwards(self, app_label, state):
        pass

    def _field(self, app_label, state):
        model = state.apps.get_model(app_label, self.model_name)
        return model, model._meta.get_field(self.field_name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        dialect = dialect_for(schema_editor.connection)
        if dialect.pattern_indexes:
            model, field = self._field(app_label, to_state)
            name = schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="_like")
            schema_editor.execute(dialect.pattern_index_drop_sql(name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if dialect_for(schema_editor.connection).pattern_indexes:
            schema_editor.execute(schema_editor._create_like_index_sql(*self._field(app_label, to_state)))

    def describe(self):
        return f"Drop the LIKE-pattern index of {self.model_name}.{self.field_name} (PostgreSQL)"

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name, "field_name": self.field_name}


FK_SUFFIX = "_fk_%(to_table)s_%(to_column)s"  # the suffix Django names a foreign key with


class DropForeignKey(migrations.AlterField):
    """AlterField of a foreign key to db_constraint=False that drops the constraint by the name
    Django gave it, without reading the database's catalogue, so `sqlserver_schema` renders it
    offline. A database whose foreign keys are part of the table (SQLite: its schema editor
    has no sql_create_fk) rebuilds the table as AlterField does. Reversed, the constraint is
    created again."""

    def _field(self, state, app_label):
        model = state.apps.get_model(app_label, self.model_name)
        return model, model._meta.get_field(self.name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.sql_create_fk is None:
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model, field = self._field(from_state, app_label)
        name = str(schema_editor._fk_constraint_name(model, field, FK_SUFFIX))
        schema_editor.execute(schema_editor._delete_fk_sql(model, name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.sql_create_fk is None:
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(schema_editor._create_fk_sql(*self._field(to_state, app_label), FK_SUFFIX))

    def describe(self):
        return f"Drop the database foreign key of {self.model_name}.{self.name}"
