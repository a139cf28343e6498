"""Annotations: labelled shapes or values on an entry."""

from peewee import CharField, ForeignKeyField, JSONField

from dataset_api.models.base import UUIDModel
from dataset_api.models.dataset import Dataset
from dataset_api.models.entry import Entry
from dataset_api.models.project import Project


class Annotation(UUIDModel):
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    dimensions = JSONField()
    annotation = JSONField()
    metadata = JSONField(default=dict)
    created_by_email = CharField(max_length=320, null=True, index=True)
