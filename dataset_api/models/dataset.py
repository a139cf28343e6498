"""Datasets: a project's collection of entries, with workflow counters kept by the database."""

from peewee import BigIntegerField, CharField, FloatField, ForeignKeyField, JSONField

from dataset_api.models.base import UUIDModel
from dataset_api.models.project import Project


class Dataset(UUIDModel):
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    name = CharField(max_length=255, index=True)
    labels = JSONField(default=list)
    modality = CharField(max_length=64, index=True)
    labeling_configuration = JSONField(default=dict)
    workflow_configuration = JSONField(default=lambda: {"type": "simple_review", "sample_rate": 1})
    status = CharField(max_length=16, default="pending", index=True)
    progress = FloatField(default=0, index=True)
    entries_total_count = BigIntegerField(default=0, index=True)
    entries_completed_count = BigIntegerField(default=0, index=True)
    entries_in_progress_count = BigIntegerField(default=0, index=True)
