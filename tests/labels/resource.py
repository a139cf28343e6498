"""Labels (``/labels``): the label set of a dataset, one record per label. Everything the service
needs to know about them is here: the model, the declaration, the rules, who reads and writes."""

from peewee import CharField, ForeignKeyField

from dataset_api import crud, rules
from dataset_api.auth import permissions
from dataset_api.models import Dataset, Project, UUIDModel
from dataset_api.registry import Attr, Include, Parent, Resource, common, register


class Label(UUIDModel):
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    name = CharField(max_length=255)
    color = CharField(max_length=32, null=True)
    created_by_email = CharField(max_length=320, null=True)

    class Meta:
        indexes = ((("dataset", "name"), True),)


def _create(resource, values, user):
    rules.derive(resource, values, "dataset")
    rules.stamp_author(values, user)


LABELS = register(Resource(
    "labels", "dataset:labels", Label,
    common(
        Attr("dataset_id", "id", required=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("name", "string", required=True),
        Attr("color", "string", nullable=True),
        Attr("created_by_email", "string", readonly=True),
    ),
    parents={"dataset": Parent("dataset_id", "datasets"), "project": Parent("project_id", "projects")},
    includes={"dataset": Include("datasets", "dataset_id"), "project": Include("projects", "project_id")},
    include_paths=("dataset", "dataset.project", "project"),
    derived={"project_id": ("dataset", "project_id")},
    visible=lambda user: permissions.member(user, Label.project),
    write={"create": "owner", "update": "owner", "delete": "owner"},
    before_create=_create,
    unique={"name": "This dataset already has a label of that name."},
))

list_labels, get_label, create_label, update_label, delete_label = crud.handlers(LABELS)
