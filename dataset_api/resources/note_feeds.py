"""Note feeds (``/note_feeds``): a discussion thread anchored on an entry or on one of its
annotations; anyone who reads the entry may open or resolve one, its author or an owner edits it."""

from dataset_api import crud, rules, writes
from dataset_api.auth import permissions
from dataset_api.db import db
from dataset_api.errors import Conflict, Invalid
from dataset_api.models import Entry, NoteFeed
from dataset_api.registry import Attr, Include, Parent, Resource, common, register
from dataset_api.resources.entries import ENTRIES
from dataset_api.store import get_or_404


def _create(resource, values, user):
    rules.derive(resource, values, "entry")
    if values.get("annotation_id") is not None:
        values.setdefault("anchor_type", "annotation")
    values.setdefault("anchor_type", "entry")
    pointer = "/data/attributes/annotation_id"
    if values["anchor_type"] == "annotation":
        if values.get("annotation_id") is None:
            raise Conflict("annotation_id is required when anchor_type is 'annotation'.",
                           pointer=pointer, code="anchor_mismatch")
        annotation = rules.parent(resource, values, "annotation")
        if annotation.entry_id != values["entry_id"]:
            raise Invalid("The annotation belongs to another entry.", pointer=pointer)
    elif values.get("annotation_id") is not None:
        raise Conflict("annotation_id is only allowed when anchor_type is 'annotation'.",
                       pointer=pointer, code="anchor_mismatch")
    rules.stamp_author(values, user)


def readable(user):
    """The ids of the feeds ``user`` may read: in projects they own, or on entries they see."""
    entries = Entry.select(Entry.id).where(ENTRIES.visible(user))
    return NoteFeed.select(NoteFeed.id).where(permissions.owned(user, NoteFeed.project)
                                              | NoteFeed.entry.in_(entries))


NOTE_FEEDS = register(Resource(
    "note_feeds", "dataset:note_feeds", NoteFeed,
    common(
        Attr("entry_id", "id", required=True, create_only=True),
        Attr("annotation_id", "id", nullable=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("dataset_id", "id", readonly=True),
        Attr("anchor_type", "string", enum=("entry", "annotation"), create_only=True),
        Attr("position", "object", nullable=True),
        Attr("status", "string", readonly=True, enum=("pending", "resolved")),
        Attr("content_md", "string", required=True),
        Attr("created_by_email", "string", readonly=True),
        Attr("edited_at", "timestamp", readonly=True, nullable=True),
    ),
    parents={"entry": Parent("entry_id", "entries"), "annotation": Parent("annotation_id", "annotations"),
             "dataset": Parent("dataset_id", "datasets"), "project": Parent("project_id", "projects")},
    includes={"entry": Include("entries", "entry_id"),
              "annotation": Include("annotations", "annotation_id"),
              "note_comments": Include("note_comments", "note_feed_id", many=True),
              "dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id")},
    include_paths=("entry", "annotation", "note_comments", "dataset", "project"),
    derived={"project_id": ("entry", "project_id"), "dataset_id": ("entry", "dataset_id")},
    visible=lambda user: NoteFeed.id.in_(readable(user)),
    write={"create": "reader", "update": "owner_or_author", "delete": "owner_or_author"},
    before_create=_create,
    before_update=rules.mark_edited,
    extra_events=("resolved",),
))

(list_note_feeds,
 get_note_feed,
 create_note_feed, update_note_feed, delete_note_feed) = crud.handlers(NOTE_FEEDS)


def resolve_note_feed(id, body=None):
    """``POST /note_feeds/{id}/resolve``: mark the feed resolved (idempotent; anyone who reads it)."""
    with db.atomic():
        feed = get_or_404(NOTE_FEEDS, id)
        if feed.status != "resolved":
            writes.update(NOTE_FEEDS, feed, {"status": "resolved"}, kind="resolved")
    return crud.render_one(NOTE_FEEDS, get_or_404(NOTE_FEEDS, id))
