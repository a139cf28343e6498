"""Discussion threads (note feeds) on entries or annotations, and their comments."""

from peewee import CharField, DateTimeField, ForeignKeyField, JSONField, TextField

from dataset_api.models.annotation import Annotation
from dataset_api.models.base import UUIDModel
from dataset_api.models.dataset import Dataset
from dataset_api.models.entry import Entry
from dataset_api.models.project import Project


class NoteFeed(UUIDModel):
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    annotation = ForeignKeyField(Annotation, on_delete="CASCADE", null=True, index=True)
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    anchor_type = CharField(max_length=16, default="entry", index=True)
    position = JSONField(null=True)
    status = CharField(max_length=16, default="pending", index=True)
    content_md = TextField()
    created_by_email = CharField(max_length=320, null=True, index=True)
    edited_at = DateTimeField(null=True, index=True)


class NoteComment(UUIDModel):
    note_feed = ForeignKeyField(NoteFeed, on_delete="CASCADE", index=True)
    content_md = TextField()
    created_by_email = CharField(max_length=320, null=True, index=True)
    edited_at = DateTimeField(null=True, index=True)
