"""Handlers for /note_comments (listNoteComments, get/create/update/deleteNoteComment)."""

from dataset_api.crud import handlers
from dataset_api.resources import NOTE_COMMENTS

(list_note_comments,
 get_note_comment,
 create_note_comment, update_note_comment, delete_note_comment) = handlers(NOTE_COMMENTS)
