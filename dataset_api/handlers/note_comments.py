"""Handlers for /note_comments (operationIds note_comments.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import NOTE_COMMENTS

search, get, post, patch, delete = handlers(NOTE_COMMENTS)
