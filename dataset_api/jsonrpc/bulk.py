"""The set-based ``create`` (``protocol.Bulk``) for runs of create calls in one batch: one SELECT
for their entries, the rules and the permission check of each call from it, one multi-row INSERT.
Each call gets the result or the error ``methods.create`` would give it."""

from dataset_api import store, writes
from dataset_api.crud import current_user
from dataset_api.events import outbox
from dataset_api.jsonrpc import methods
from dataset_api.jsonrpc.protocol import Bulk
from dataset_api.resources import annotations
from dataset_api.resources.annotations import ANNOTATIONS
from dataset_api.resources.entries import ENTRIES


def prepare_creates(calls):
    """Return, per create call's params, the values to insert or the exception the call meets."""
    checked = [_attempt(methods.creation, **params) for params in calls]
    entries = store.readable_by_id(ENTRIES, {str(c[0]["entry_id"]) for c in checked
                                             if not isinstance(c, Exception)}, share=True)
    user = current_user()
    permit = store.entry_permit(ANNOTATIONS, "create", user)
    return [c if isinstance(c, Exception) else _attempt(_ruled, *c, entries, user, permit)
            for c in checked]


def _ruled(values, client_id, entries, user, permit):
    entry = entries.get(str(values["entry_id"]))
    annotations.create_on(entry, values, user, locked=True)
    permit(values, entry)
    if client_id is not None:  # a taken id fails the INSERT: the calls then run one by one
        values["id"] = client_id
    return values


def write_creates(rows):
    """Insert the prepared rows at once, each with its ``created`` event and revision; return
    their results, in order."""
    stored = store.insert_many(ANNOTATIONS, rows)
    # new ids are first revisions; a client's id may be a deleted annotation's, numbered after it
    writes.recorded(ANNOTATIONS, "created", [(row, outbox.written(ANNOTATIONS, row, values))
                                             for values, row in zip(rows, stored, strict=True)],
                    first=not any("id" in row for row in rows))
    return [methods.flat(row) for row in stored]


def _attempt(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the call fails alone, as it would on its own
        return exc


METHODS = {"create": Bulk(prepare_creates, write_creates)}
