"""The labels table as this migration creates it (frozen: later changes to ``Label`` are later
migrations)."""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model

VERSION, NAME = 100, "labels"


def up(database):
    class Base(Model):
        class Meta:
            legacy_table_names = False

    class Project(Base):
        id = CharField(primary_key=True, max_length=36)

    class Dataset(Base):
        id = CharField(primary_key=True, max_length=36)

    class Label(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField(index=True)
        version = IntegerField()
        dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
        project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
        name = CharField(max_length=255)
        color = CharField(max_length=32, null=True)
        created_by_email = CharField(max_length=320, null=True)

        class Meta:
            indexes = ((("dataset", "name"), True),)

    with database.bind_ctx([Project, Dataset, Label]):
        database.create_tables([Label], safe=True)


def down(database):
    database.execute_sql('DROP TABLE IF EXISTS "label"')
