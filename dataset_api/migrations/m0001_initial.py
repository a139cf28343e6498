"""0001: projects, members, datasets, entries, annotations, note feeds and comments.

The tables are frozen here as they were at this step, not taken from ``dataset_api.models``:
built from the live models, a fresh database would already hold every column added since, and the
later migration adding one would fail on it. Edit the live models and add a migration instead;
never edit these classes. Python-side defaults (ids, timestamps, JSON values) are left out, as
they never reach the DDL; ``up`` binds the classes to the database it migrates.
"""

from peewee import (
    AutoField,
    BigIntegerField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
    TextField,
)


class BaseModel(Model):
    created_at = DateTimeField(index=True)
    updated_at = DateTimeField(index=True)
    version = IntegerField()

    class Meta:
        legacy_table_names = False  # index names start with the table name, e.g. project_member_…


class UUIDModel(BaseModel):
    id = CharField(primary_key=True, max_length=36)


class Project(UUIDModel):
    name = CharField(max_length=255, index=True)
    description = TextField(null=True)
    organization_id = BigIntegerField(index=True)
    created_by_email = CharField(max_length=320, null=True, index=True)

    class Meta:
        table_name = "project"


class ProjectMember(BaseModel):
    id = AutoField()
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    account_id = BigIntegerField(index=True)
    name = CharField(max_length=255, null=True)
    email = CharField(max_length=320, index=True)
    role = CharField(max_length=32, index=True)
    invited_by_id = BigIntegerField(null=True, index=True)
    disabled_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "project_member"
        indexes = ((("project", "account_id"), True),)


class Dataset(UUIDModel):
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    name = CharField(max_length=255, index=True)
    labels = JSONField()
    modality = CharField(max_length=64, index=True)
    labeling_configuration = JSONField()
    workflow_configuration = JSONField()
    status = CharField(max_length=16, index=True)
    progress = FloatField(index=True)
    entries_total_count = BigIntegerField(index=True)
    entries_completed_count = BigIntegerField(index=True)
    entries_in_progress_count = BigIntegerField(index=True)

    class Meta:
        table_name = "dataset"


class Entry(UUIDModel):
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    priority = IntegerField(index=True)
    resource = TextField()
    job_id = CharField(max_length=255, null=True, index=True)
    wf_step = CharField(max_length=16, index=True)
    status = CharField(max_length=16, index=True)
    assigned_to_id = BigIntegerField(null=True, index=True)
    submitted_by_id = BigIntegerField(null=True, index=True)
    reviewed_by_id = BigIntegerField(null=True, index=True)
    error_message = TextField(null=True)

    class Meta:
        table_name = "entry"
        indexes = (
            (("dataset", "resource"), True),
            (("dataset", "wf_step", "assigned_to_id", "priority", "created_at"), False),
            (("dataset", "status"), False),
        )


class Annotation(UUIDModel):
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    dimensions = JSONField()
    annotation = JSONField()
    metadata = JSONField()
    created_by_email = CharField(max_length=320, null=True, index=True)

    class Meta:
        table_name = "annotation"


class NoteFeed(UUIDModel):
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    annotation = ForeignKeyField(Annotation, on_delete="CASCADE", null=True, index=True)
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    anchor_type = CharField(max_length=16, index=True)
    position = JSONField(null=True)
    status = CharField(max_length=16, index=True)
    content_md = TextField()
    created_by_email = CharField(max_length=320, null=True, index=True)
    edited_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "note_feed"


class NoteComment(UUIDModel):
    note_feed = ForeignKeyField(NoteFeed, on_delete="CASCADE", index=True)
    content_md = TextField()
    created_by_email = CharField(max_length=320, null=True, index=True)
    edited_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "note_comment"


TABLES = [Project, ProjectMember, Dataset, Entry, Annotation, NoteFeed, NoteComment]


def up(database):
    with database.bind_ctx(TABLES):
        database.create_tables(TABLES)
