"""Entries (``/entries``): the items of a dataset to annotate, and the workflow actions on them
(assign, select, submit, error, next; the state machine is ``dataset_api.workflow``)."""

from dataset_api import crud, metrics, rules
from dataset_api.auth import permissions
from dataset_api.db import db
from dataset_api.errors import Conflict, InvalidQuery, NotFound
from dataset_api.jsonapi import build, query
from dataset_api.models import Entry
from dataset_api.registry import Attr, Include, Parent, Resource, common, register
from dataset_api.resources import datasets  # noqa: F401  (entries' parent, registered before them)
from dataset_api.store import get_or_404
from dataset_api.workflow import actions, counters

WF_STEPS = ("annotate", "review", "done", "error")
STATUSES = ("pending", "in_progress", "completed", "errored")


def _create(resource, values, user):
    rules.derive(resource, values, "dataset")


def _weights(status):
    completed, in_progress = counters.status_deltas(None, status)
    return {"completed": completed, "in_progress": in_progress}


def _created(resource, row):
    counters.shift(row.dataset_id, total=1, **_weights(row.status))


def _delete(resource, row):
    if row.status in ("in_progress", "completed"):
        raise Conflict(f"An entry that is {row.status.replace('_', ' ')} cannot be deleted.",
                       code="entry_in_use")


def _deleted(resource, row):
    weights = _weights(row.status)
    counters.shift(row.dataset_id, total=-1, completed=-weights["completed"],
                   in_progress=-weights["in_progress"])


ENTRIES = register(Resource(
    "entries", "dataset:entries", Entry,
    common(
        Attr("dataset_id", "id", required=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("priority", "integer"),
        Attr("resource", "string", required=True),
        Attr("job_id", "string", nullable=True),
        Attr("wf_step", "string", readonly=True, enum=WF_STEPS),
        Attr("status", "string", readonly=True, enum=STATUSES),
        Attr("assigned_to_id", "integer", readonly=True, nullable=True),
        Attr("submitted_by_id", "integer", readonly=True, nullable=True),
        Attr("reviewed_by_id", "integer", readonly=True, nullable=True),
        Attr("error_message", "string", readonly=True, nullable=True),
    ),
    parents={"dataset": Parent("dataset_id", "datasets"), "project": Parent("project_id", "projects")},
    includes={"dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id"),
              "annotations": Include("annotations", "entry_id", many=True),
              "note_feeds": Include("note_feeds", "entry_id", many=True)},
    include_paths=("dataset", "dataset.project", "project", "annotations", "note_feeds"),
    derived={"project_id": ("dataset", "project_id")},
    extra_filters={"participated": "integer", "assigned": "boolean"},
    visible=permissions.visible_entries,
    write={"create": "owner", "update": "owner", "delete": "owner"},
    before_create=_create,
    after_create=_created,
    before_delete=_delete,
    after_delete=_deleted,
    unique={"resource": "An entry with this resource already exists in the dataset."},
    extra_events=("assigned", "unassigned", "selected", "submitted", "reviewed", "errored", "imported"),
))

list_entries, get_entry, create_entry, update_entry, delete_entry = crud.handlers(ENTRIES)


# --- the workflow actions (DESIGN §4) ------------------------------------------------------------------

def _attributes(body):
    return ((body or {}).get("data") or {}).get("attributes") or {}


def _act(entry_id, action, **params):
    """Run a workflow action on an entry and return its document."""
    q = query.parse(ENTRIES, crud.query_pairs(), collection=False)
    with db.atomic():
        entry = get_or_404(ENTRIES, entry_id)
        row = actions.perform(entry, crud.current_user(), action, **params)
    if action == "select":  # counted once committed; an unchanged row was the caller's already
        metrics.count_claim("select", "claimed" if row.version != entry.version else "held")
    return crud.render_one(ENTRIES, row, q)


def assign_entry(id, body):
    return _act(id, "assign", account_id=_attributes(body)["assigned_to_id"])


def select_entry(id):
    return _act(id, "select")


def submit_entry(id, body=None):
    return _act(id, "submit", approved=_attributes(body).get("approved"))


def report_entry_error(id, body):
    return _act(id, "error", message=_attributes(body).get("message"))


def claim_next_entry():
    """``GET /entries/next``: the caller's entry in the dataset of ``filter[dataset_id]``."""
    q = query.parse(ENTRIES, crud.query_pairs(), seal=crud.cursor_seal())
    taken = next((f for f in q.filters if f.name == "dataset_id" and f.op in ("", "eq")), None)
    if taken is None:
        raise InvalidQuery("filter[dataset_id] is required.", parameter="filter[dataset_id]")
    extra = [f for f in q.filters if f is not taken]
    with db.atomic():
        try:
            row, claimed = actions.next_entry(
                crud.current_user(), taken.value,
                (lambda select: build.filtered(Entry, select, extra)) if extra else None)
        except NotFound:
            metrics.count_claim("next", "none_left")
            raise
    metrics.count_claim("next", "claimed" if claimed else "held")
    return crud.render_one(ENTRIES, row, q)
