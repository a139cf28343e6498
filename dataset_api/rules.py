"""Resource-specific write rules: parents, derived attributes, ownership stamps, counters.

Each rule is a small function registered for its resource in the tables at the bottom.
"""

from dataset_api.errors import Conflict, Invalid, NotFound
from dataset_api.models import Entry, NoteFeed, ProjectMember, utcnow
from dataset_api.resources import RESOURCES
from dataset_api.workflow import counters

DEFAULT_WORKFLOW = {"type": "simple_review", "sample_rate": 1}


def _parent(resource, values, relationship):
    """Return the parent row named by ``relationship``; 404 with a pointer when it is missing."""
    from dataset_api.store import get_or_404  # store imports rules

    parent = resource.parents[relationship]
    try:
        return get_or_404(RESOURCES[parent.resource], str(values[parent.attr]))
    except NotFound:
        raise _missing(resource, values, relationship) from None


def _missing(resource, values, relationship):
    parent = resource.parents[relationship]
    return NotFound(f"{parent.attr} {values[parent.attr]!r} does not exist.",
                    pointer=f"/data/attributes/{parent.attr}")


def _derive(resource, values, relationship, parent_row=None):
    """Copy the attributes derived from the parent (read unless given); return the parent row."""
    if parent_row is None:
        parent_row = _parent(resource, values, relationship)
    for attr, (rel, parent_attr) in resource.derived.items():
        if rel == relationship:
            values[attr] = getattr(parent_row, parent_attr)
    return parent_row


def _check_parents(resource, values, user):
    for name, parent in resource.parents.items():
        if parent.attr in values and not resource.attributes[parent.attr].readonly:
            _parent(resource, values, name)


def project_create(resource, values, user):
    values["created_by_email"] = user.email


def member_create(resource, values, user):
    _check_parents(resource, values, user)
    values["invited_by_id"] = user.account_id


def _keep_an_owner(member):
    """409 when ``member`` is the project's last enabled project owner."""
    others = ProjectMember.select().where(
        ProjectMember.project == member.project_id, ProjectMember.role == "project_owner",
        ProjectMember.disabled_at.is_null(), ProjectMember.id != member.id).exists()
    if not others:
        raise Conflict("The project needs at least one enabled project owner: "
                       "add another one first.", code="last_owner")


def member_update(resource, row, values, user):
    """The last owner stays an enabled owner."""
    if row.role == "project_owner" and row.disabled_at is None and (
            values.get("role", row.role) != "project_owner" or values.get("disabled_at") is not None):
        _keep_an_owner(row)


def member_delete(resource, row):
    if row.role == "project_owner" and row.disabled_at is None:
        _keep_an_owner(row)


def dataset_create(resource, values, user):
    _check_parents(resource, values, user)
    values["workflow_configuration"] = {**DEFAULT_WORKFLOW,
                                        **(values.get("workflow_configuration") or {})}
    values.setdefault("labels", [])
    values.setdefault("labeling_configuration", {})


def dataset_update(resource, row, values, user):
    if "workflow_configuration" in values:
        values["workflow_configuration"] = {**DEFAULT_WORKFLOW,
                                            **(values["workflow_configuration"] or {})}


def entry_create(resource, values, user):
    _derive(resource, values, "dataset")


def entry_created(resource, row):
    counters.shift(row.dataset_id, total=1, **_weights(row.status))


def _weights(status):
    completed, in_progress = counters.status_deltas(None, status)
    return {"completed": completed, "in_progress": in_progress}


def entry_delete(resource, row):
    if row.status in ("in_progress", "completed"):
        raise Conflict(f"An entry that is {row.status.replace('_', ' ')} cannot be deleted.",
                       code="entry_in_use")


def entry_deleted(resource, row):
    weights = _weights(row.status)
    counters.shift(row.dataset_id, total=-1, completed=-weights["completed"],
                   in_progress=-weights["in_progress"])


def _entry_open(entry):
    """409 when ``entry`` (a row, or an id to read) is completed."""
    if not isinstance(entry, Entry):
        entry = Entry.get_or_none(Entry.id == entry)
    if entry is not None and entry.status == "completed":
        raise Conflict("The entry is completed: its annotations can no longer change.",
                       pointer="/data/attributes/entry_id", code="entry_completed")


def annotation_create(resource, values, user):
    annotation_create_on(_parent(resource, values, "entry"), values, user)


def annotation_create_on(entry, values, user):
    """The annotation create rule for an entry already read (None: missing or hidden from
    ``user``); a batch of JSON-RPC creates reads its entries at once and calls this per call."""
    resource = RESOURCES["annotations"]
    if entry is None:
        raise _missing(resource, values, "entry")
    _derive(resource, values, "entry", entry)
    _entry_open(entry)
    values["created_by_email"] = user.email
    values.setdefault("metadata", {})


def annotation_update(resource, row, values, user):
    _entry_open(row.entry_id)


def annotation_delete(resource, row):
    _entry_open(row.entry_id)


def note_feed_create(resource, values, user):
    _derive(resource, values, "entry")
    if values.get("annotation_id") is not None:
        values.setdefault("anchor_type", "annotation")
    values.setdefault("anchor_type", "entry")
    pointer = "/data/attributes/annotation_id"
    if values["anchor_type"] == "annotation":
        if values.get("annotation_id") is None:
            raise Conflict("annotation_id is required when anchor_type is 'annotation'.",
                           pointer=pointer, code="anchor_mismatch")
        annotation = _parent(resource, values, "annotation")
        if annotation.entry_id != values["entry_id"]:
            raise Invalid("The annotation belongs to another entry.", pointer=pointer)
    elif values.get("annotation_id") is not None:
        raise Conflict("annotation_id is only allowed when anchor_type is 'annotation'.",
                       pointer=pointer, code="anchor_mismatch")
    values["created_by_email"] = user.email


def comment_create(resource, values, user):
    _check_parents(resource, values, user)
    values["created_by_email"] = user.email


def mark_edited(resource, row, values, user):
    """Note feeds and comments record when their text last changed."""
    if "content_md" in values and values["content_md"] != row.content_md:
        values["edited_at"] = utcnow()


BEFORE_CREATE = {
    "projects": project_create, "project_members": member_create, "datasets": dataset_create,
    "entries": entry_create, "annotations": annotation_create, "note_feeds": note_feed_create,
    "note_comments": comment_create,
}
AFTER_CREATE = {"entries": entry_created}
BEFORE_UPDATE = {"project_members": member_update, "datasets": dataset_update,
                 "annotations": annotation_update, "note_feeds": mark_edited, "note_comments": mark_edited}
BEFORE_DELETE = {"project_members": member_delete, "entries": entry_delete,
                 "annotations": annotation_delete}
AFTER_DELETE = {"entries": entry_deleted}


def before_create(resource, values, user):
    BEFORE_CREATE[resource.name](resource, values, user)


def after_create(resource, row):
    if resource.name in AFTER_CREATE:
        AFTER_CREATE[resource.name](resource, row)


def before_update(resource, row, values, user):
    if resource.name in BEFORE_UPDATE:
        BEFORE_UPDATE[resource.name](resource, row, values, user)


def before_delete(resource, row):
    if resource.name in BEFORE_DELETE:
        BEFORE_DELETE[resource.name](resource, row)


def after_delete(resource, row):
    if resource.name in AFTER_DELETE:
        AFTER_DELETE[resource.name](resource, row)


def conflict_detail(exc):
    """A readable 409 detail for a unique-constraint violation."""
    text = str(exc).lower()
    if "resource" in text:
        return "An entry with this resource already exists in the dataset."
    if "account_id" in text:
        return "This account is already a member of the project."
    return "The change conflicts with an existing record."


def resolve_note_feed(feed):
    """Mark a note feed resolved (idempotent); returns nothing."""
    if feed.status != "resolved":
        NoteFeed.update(status="resolved", version=NoteFeed.version + 1,
                        updated_at=utcnow()).where(NoteFeed.id == feed.id).execute()
