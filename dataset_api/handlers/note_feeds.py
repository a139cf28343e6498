"""Handlers for /note_feeds (operationIds note_feeds.search/get/post/patch/delete)."""

from dataset_api import crud
from dataset_api.crud import handlers
from dataset_api.resources import NOTE_FEEDS

search, get, post, patch, delete = handlers(NOTE_FEEDS)


def resolve(id, body=None):
    """POST /note_feeds/{id}/resolve: mark the feed resolved (idempotent); returns the feed."""
    return crud.resolve_note_feed(id)
