"""Annotations (``/annotations``; also over JSON-RPC at ``/annotations/_rpc``, see
``dataset_api.jsonrpc``): what annotators record on an entry. A completed entry's annotations no
longer change; its assignee (or an owner) writes them."""

from dataset_api import crud, rules
from dataset_api.auth import permissions
from dataset_api.db import is_postgresql
from dataset_api.errors import Conflict
from dataset_api.models import Annotation, Entry
from dataset_api.registry import Attr, Include, Parent, Resource, common, register
from dataset_api.resources.entries import ENTRIES
from dataset_api.workflow import statements


def _entry_open(entry, locked=False):
    """409 when ``entry`` (a row, or an id to read) is completed. Unless the caller read the row
    under a share lock already (``locked``, ``store.readable_by_id(share=True)``), PostgreSQL reads
    it again under one held to the commit, so a submit that completes the entry meanwhile waits for
    this write, or this write sees it completed (under READ COMMITTED a plain read could pass an
    entry whose completion commits a moment later). SQLite writes one at a time."""
    entry_id = entry.id if isinstance(entry, Entry) else entry
    if (is_postgresql() and not locked) or not isinstance(entry, Entry):
        entry = statements.entry(entry_id, share=True)
    if entry is not None and entry.status == "completed":
        raise Conflict("The entry is completed: its annotations can no longer change.",
                       pointer="/data/attributes/entry_id", code="entry_completed")


def create_on(entry, values, user, locked=False):
    """The create rule for an entry already read (None: missing or hidden from ``user``); a batch
    of JSON-RPC creates reads its entries at once (and locks them: ``locked``) and calls this per
    call."""
    if entry is None:
        raise rules.missing(ANNOTATIONS, values, "entry")
    rules.derive(ANNOTATIONS, values, "entry", entry)
    _entry_open(entry, locked)
    rules.stamp_author(values, user)
    values.setdefault("metadata", {})


def _create(resource, values, user):
    create_on(rules.parent(resource, values, "entry"), values, user)


def _visible(user):
    entries = Entry.select(Entry.id).where(ENTRIES.visible(user))
    return permissions.owned(user, Annotation.project) | Annotation.entry.in_(entries)


def _permit_context(get):
    """Assignees write the annotations of their entry."""
    entry = get("entry_id")
    return {"project_id": get("project_id"), "entry": None if entry is None else statements.entry(entry)}


ANNOTATIONS = register(Resource(
    "annotations", "dataset:annotations", Annotation,
    common(
        Attr("entry_id", "id", required=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("dataset_id", "id", readonly=True),
        Attr("dimensions", "object", required=True),
        Attr("annotation", "object", required=True),
        Attr("metadata", "object"),
        Attr("created_by_email", "string", readonly=True),
    ),
    parents={"entry": Parent("entry_id", "entries"), "dataset": Parent("dataset_id", "datasets"),
             "project": Parent("project_id", "projects")},
    includes={"entry": Include("entries", "entry_id"), "dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id")},
    include_paths=("entry", "dataset", "project"),
    derived={"project_id": ("entry", "project_id"), "dataset_id": ("entry", "dataset_id")},
    visible=_visible,
    write={"create": "owner_or_assignee", "update": "owner_or_assignee", "delete": "owner_or_assignee"},
    before_create=_create,
    before_update=lambda resource, row, values, user: _entry_open(row.entry_id),
    before_delete=lambda resource, row: _entry_open(row.entry_id),
    revised=True,
    permit_context=_permit_context,
))

(list_annotations,
 get_annotation,
 create_annotation, update_annotation, delete_annotation) = crud.handlers(ANNOTATIONS)
