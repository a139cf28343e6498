"""Handlers for /entries: CRUD (entries.search/get/post/patch/delete) and the workflow actions."""

from dataset_api import crud
from dataset_api.crud import handlers
from dataset_api.resources import ENTRIES

search, get, post, patch, delete = handlers(ENTRIES)


def _attributes(body):
    return ((body or {}).get("data") or {}).get("attributes") or {}


def assign(id, body):
    return crud.entry_action(id, "assign", account_id=_attributes(body)["assigned_to_id"])


def select(id):
    return crud.entry_action(id, "select")


def submit(id, body=None):
    return crud.entry_action(id, "submit", approved=_attributes(body).get("approved"))


def error(id, body):
    return crud.entry_action(id, "error", message=_attributes(body).get("message"))


def next():  # noqa: A001 - the operation is called "next" in the API
    return crud.next_entry()
