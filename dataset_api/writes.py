"""The one write path (docs/design-choices.md, "One write path"): what every change of a stored
record owes, in the transaction that makes it, whichever route makes it (JSON:API, JSON-RPC and
each call of its batches, the workflow's actions and counters, the import, the delivery worker):

- its ``version`` (the ETag) and ``updated_at`` move: ``stamp`` for a peewee UPDATE, ``STAMP`` for
  SQL written by hand, ``update`` for one record;
- its event is recorded (``outbox``), unless its resource publishes none (webhooks: docs/events.md);
- its revision is kept (``revisions``), where its resource keeps them (annotations).

``recorded`` does the last two for rows however written: the store's one-record writes, a JSON-RPC
batch's INSERT, the workflow's statements, the import. tests/test_write_path.py walks every write
route of openapi.yaml and every JSON-RPC method and checks all three.
"""

from dataset_api import revisions
from dataset_api.events import outbox
from dataset_api.jsonapi import build
from dataset_api.models import utcnow

STAMP = '"version" = "version" + 1, "updated_at" = {param}'  # ``stamp`` in SQL: its time a parameter
REVISED = ("created", "updated", "deleted")  # the kinds of event that are also revisions


def stamp(model, changes=None, now=None):
    """``changes`` ({column: value}) with the version moved on and ``updated_at`` set (now)."""
    return {**(changes or {}), model.version: model.version + 1, model.updated_at: now or utcnow()}


def update_statement(model, row_id, values, expected=None):
    """The UPDATE of one record's ``values`` ({field name: value}), stamped; with ``expected``, only
    while the record is at that version (If-Match: its row count is then 0 when it is not)."""
    changes = {model._meta.columns[name]: value for name, value in values.items()}
    statement = model.update(stamp(model, changes)).where(model.id == row_id)
    return statement if expected is None else statement.where(model.version == expected)


def returned(statement):
    """Run an INSERT or UPDATE of one row; return the row as the statement stored it (RETURNING
    every column: no second read), or None when it matched none."""
    model = statement.model
    return next(iter(statement.returning(*model._meta.sorted_fields).execute()), None)


def update(resource, row, values, *, kind="updated", args=None):
    """Write ``values`` to ``row`` (already read, its rules checked) of ``resource`` and record the
    change as the event ``kind`` (its ``args`` by default the attributes written); return the row
    as stored now."""
    row = returned(update_statement(build.model_of(resource), row.id, values))
    recorded(resource, kind, [(row, outbox.written(resource, row, values) if args is None else args)])
    return row


def recorded(resource, kind, items, *, event=True, first=False, account_id=None):
    """Record the change ``kind`` of each ``(row, args)`` of ``items`` (rows as written, or the
    dicts ``revisions.keep`` takes): one event each (``event`` False: the caller records one for
    them all, as an import does), and for a resource that keeps revisions one revision each.
    ``first``: the rows are new, their revisions number 1. ``account_id``: whose change it is, by
    default the caller's."""
    if event:
        outbox.record_many(resource, kind, items)
    if resource.revised and kind in REVISED:
        operation = kind if kind == "deleted" else revisions.written(kind)
        revisions.keep(operation, [row for row, _ in items], first=first, account_id=account_id)


def summarized(resource, kind, resource_id, args, **ids):
    """Record one event for a change of many records written at once, that records no event of
    its own for each (an import: docs/events.md); ``ids`` name its project, dataset, entry."""
    outbox.emit(resource, kind, resource_id, args, **ids)
