"""Note comments (``/note_comments``): the replies in a note feed; whoever reads the feed may
reply, the author or an owner edits."""

from dataset_api import crud, rules
from dataset_api.models import NoteComment, NoteFeed
from dataset_api.registry import Attr, Include, Parent, Resource, common, register
from dataset_api.resources.note_feeds import readable


def _permit_context(get):
    """A comment's project is its feed's."""
    feed = NoteFeed.select(NoteFeed.project).where(NoteFeed.id == get("note_feed_id"))
    return {"project_id": feed.scalar()}


def _event_context(row):
    """A comment's events name its feed's project, dataset and entry."""
    feed = NoteFeed.select(NoteFeed.project, NoteFeed.dataset, NoteFeed.entry) \
        .where(NoteFeed.id == row.note_feed_id).first()
    return {} if feed is None else {"project_id": feed.project_id, "dataset_id": feed.dataset_id,
                                    "entry_id": feed.entry_id}


NOTE_COMMENTS = register(Resource(
    "note_comments", "dataset:note_comments", NoteComment,
    common(
        Attr("note_feed_id", "id", required=True, create_only=True),
        Attr("content_md", "string", required=True),
        Attr("created_by_email", "string", readonly=True),
        Attr("edited_at", "timestamp", readonly=True, nullable=True),
    ),
    parents={"note_feed": Parent("note_feed_id", "note_feeds")},
    includes={"note_feed": Include("note_feeds", "note_feed_id")},
    include_paths=("note_feed",),
    visible=lambda user: NoteComment.note_feed.in_(readable(user)),
    write={"create": "reader", "update": "owner_or_author", "delete": "owner_or_author"},
    before_create=rules.with_parents_and_author,
    before_update=rules.mark_edited,
    permit_context=_permit_context,
    event_context=_event_context,
))

(list_note_comments,
 get_note_comment,
 create_note_comment, update_note_comment, delete_note_comment) = crud.handlers(NOTE_COMMENTS)
