"""Handlers for /entries: CRUD (listEntries, get/create/update/deleteEntry) and the workflow actions."""

from dataset_api import crud
from dataset_api.crud import handlers
from dataset_api.resources import ENTRIES

list_entries, get_entry, create_entry, update_entry, delete_entry = handlers(ENTRIES)


def _attributes(body):
    return ((body or {}).get("data") or {}).get("attributes") or {}


def assign_entry(id, body):
    return crud.entry_action(id, "assign", account_id=_attributes(body)["assigned_to_id"])


def select_entry(id):
    return crud.entry_action(id, "select")


def submit_entry(id, body=None):
    return crud.entry_action(id, "submit", approved=_attributes(body).get("approved"))


def report_entry_error(id, body):
    return crud.entry_action(id, "error", message=_attributes(body).get("message"))


def claim_next_entry():
    return crud.next_entry()
