"""0009: annotation revisions (docs/api.md, "Annotation revisions").

One row per create, update, delete or restore of an annotation, with its values after it. The
annotation is named by a plain indexed column, not a foreign key, so that a deleted annotation's
revisions stay; they go with their entry (``ON DELETE CASCADE``). Each annotation stored before
this step gets one ``created`` revision of its values then, stamped with its ``updated_at`` and no
account, so that every annotation has a revision to list and to restore. Frozen as 0001's tables
are: edit the live model and add a migration instead of editing these.
"""

from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
)


class Base(Model):
    class Meta:
        legacy_table_names = False


class Entry(Base):
    id = CharField(primary_key=True, max_length=36)

    class Meta:
        table_name = "entry"


class AnnotationRevision(Base):
    id = CharField(primary_key=True, max_length=36)
    annotation_id = CharField(max_length=36)
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    number = IntegerField()
    operation = CharField(max_length=16)
    account_id = BigIntegerField(null=True)
    at = DateTimeField()
    dimensions = JSONField()
    annotation = JSONField()
    metadata = JSONField()

    class Meta:
        table_name = "annotation_revision"
        indexes = ((("annotation_id", "number"), True),)


# The existing annotations' first revisions, in one statement. A revision's id is a UUID like any
# other record's; the annotation's own id is unique, so it serves as the baseline revision's.
BASELINE = ('INSERT INTO "annotation_revision" ("id", "annotation_id", "entry_id", "number", '
            '"operation", "account_id", "at", "dimensions", "annotation", "metadata") '
            'SELECT "id", "id", "entry_id", 1, \'created\', NULL, "updated_at", "dimensions", '
            '"annotation", "metadata" FROM "annotation"')


def up(database):
    with database.bind_ctx([Entry, AnnotationRevision]):
        database.create_tables([AnnotationRevision])
    database.execute_sql(BASELINE)
