"""Handlers for /note_feeds (listNoteFeeds, get/create/update/deleteNoteFeed)."""

from dataset_api import crud
from dataset_api.crud import handlers
from dataset_api.resources import NOTE_FEEDS

list_note_feeds, get_note_feed, create_note_feed, update_note_feed, delete_note_feed = handlers(NOTE_FEEDS)


def resolve_note_feed(id, body=None):
    """POST /note_feeds/{id}/resolve: mark the feed resolved (idempotent); returns the feed."""
    return crud.resolve_note_feed(id)
