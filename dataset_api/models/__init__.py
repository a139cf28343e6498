"""Peewee models, one module per area; ``MODELS`` lists them in creation order."""

from dataset_api.models.annotation import Annotation, AnnotationRevision, JsonText
from dataset_api.models.base import BaseModel, Ids, UUIDModel, utcnow, uuid7, uuid7_many
from dataset_api.models.dataset import Dataset
from dataset_api.models.entry import Entry
from dataset_api.models.event import Event, Webhook, WebhookDelivery
from dataset_api.models.note import NoteComment, NoteFeed
from dataset_api.models.project import Project, ProjectMember

MODELS = [Project, ProjectMember, Dataset, Entry, Annotation, NoteFeed, NoteComment, Webhook, Event,
          WebhookDelivery, AnnotationRevision]
BY_NAME = {m.__name__: m for m in MODELS}

__all__ = ["Annotation", "AnnotationRevision", "BaseModel", "Dataset", "Entry", "Event", "JsonText",
           "NoteComment", "NoteFeed", "Project", "ProjectMember", "UUIDModel", "Webhook", "WebhookDelivery",
           "MODELS", "BY_NAME", "utcnow", "uuid7", "uuid7_many", "Ids"]
