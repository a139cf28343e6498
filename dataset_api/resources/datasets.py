"""Datasets (``/datasets``): a project's collections of entries, with their labels, labelling and
workflow configuration, and the entry counters the workflow keeps."""

from dataset_api import crud, rules
from dataset_api.auth import permissions
from dataset_api.models import Dataset
from dataset_api.registry import Attr, Include, Parent, Resource, common, register

STATUSES = ("pending", "in_progress", "completed")
DEFAULT_WORKFLOW = {"type": "simple_review", "sample_rate": 1}


def _create(resource, values, user):
    rules.check_parents(resource, values)
    values["workflow_configuration"] = {**DEFAULT_WORKFLOW,
                                        **(values.get("workflow_configuration") or {})}
    values.setdefault("labels", [])
    values.setdefault("labeling_configuration", {})


def _update(resource, row, values, user):
    if "workflow_configuration" in values:
        values["workflow_configuration"] = {**DEFAULT_WORKFLOW,
                                            **(values["workflow_configuration"] or {})}


DATASETS = register(Resource(
    "datasets", "dataset:datasets", Dataset,
    common(
        Attr("project_id", "id", required=True, create_only=True),
        Attr("name", "string", required=True),
        Attr("labels", "array"),
        Attr("modality", "string", required=True, create_only=True),
        Attr("labeling_configuration", "object"),
        Attr("workflow_configuration", "object"),
        Attr("status", "string", readonly=True, enum=STATUSES),
        Attr("progress", "number", readonly=True),
        Attr("entries_total_count", "integer", readonly=True),
        Attr("entries_completed_count", "integer", readonly=True),
        Attr("entries_in_progress_count", "integer", readonly=True),
    ),
    parents={"project": Parent("project_id", "projects")},
    includes={"project": Include("projects", "project_id"),
              "entries": Include("entries", "dataset_id", many=True)},
    include_paths=("project", "entries"),
    visible=lambda user: permissions.member(user, Dataset.project),
    write={"create": "owner", "update": "owner", "delete": "owner"},
    before_create=_create,
    before_update=_update,
    extra_events=("completed",),
))

list_datasets, get_dataset, create_dataset, update_dataset, delete_dataset = crud.handlers(DATASETS)
