"""Annotations: labelled shapes or values on an entry, and their revisions."""

import json

from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField, IntegerField, JSONField, Model

from dataset_api.db import db
from dataset_api.models.base import UUIDModel, uuid7
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


class JsonText(str):
    """A JSON value already encoded (an import's): a revision stores it as it is."""


def _dumps(value):
    return str(value) if isinstance(value, JsonText) else json.dumps(value)


class AnnotationRevision(Model):
    """One create, update, delete or restore of an annotation and its values after it (on
    ``deleted``, the values it had). ``annotation_id`` is a plain column, not a foreign key, so
    that revisions outlive their annotation; they go with their entry. Never changed once
    written, so a revision's version (its ETag) stays 1."""

    id = CharField(primary_key=True, max_length=36, default=uuid7)
    annotation_id = CharField(max_length=36)
    entry = ForeignKeyField(Entry, on_delete="CASCADE", index=True)
    number = IntegerField()
    operation = CharField(max_length=16)
    account_id = BigIntegerField(null=True)
    at = DateTimeField()  # always given (``revisions.keep``)
    dimensions = JSONField(dumps=_dumps)
    annotation = JSONField(dumps=_dumps)
    metadata = JSONField(dumps=_dumps)

    version = 1  # not a column: a revision is never written twice

    class Meta:
        database = db
        legacy_table_names = False
        table_name = "annotation_revision"
        indexes = ((("annotation_id", "number"), True),)
