"""Annotation revisions: the one place that writes them (docs/api.md, "Annotation revisions").

Every write of annotations reaches ``keep`` through ``writes.recorded`` (the one write path), in
its transaction, after its own write: a rolled-back change leaves no revision. A cascade (an
entry, dataset or project deleted) takes the revisions with the annotations, so it keeps none.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from peewee import JSONField

from dataset_api import rows as sql_rows
from dataset_api.auth.permissions import current_account_id
from dataset_api.db import db, is_sqlite
from dataset_api.models import AnnotationRevision, utcnow, uuid7, uuid7_many

OPERATIONS = ("created", "updated", "deleted", "restored")
CHUNK = 1000  # ids a read of numbers names
MANY = ("id", "annotation_id", "entry", "number", "at", "dimensions", "annotation", "metadata")
_RESTORING = ContextVar("restoring", default=False)


@contextmanager
def restoring():
    """Within it, the annotation written (``store.insert`` or ``store.change``) is a restore: its
    revision's operation is ``restored``."""
    token = _RESTORING.set(True)
    try:
        yield
    finally:
        _RESTORING.reset(token)


def written(operation):
    """``operation`` (created, updated), or ``restored`` inside ``restoring()``."""
    return "restored" if _RESTORING.get() else operation


def keep(operation, annotations, *, account_id=None, first=False):
    """Write one ``operation`` revision of each of ``annotations`` (rows as written, or dicts
    naming ``id``, ``entry_id``, ``dimensions``, ``annotation``, ``metadata`` and ``at``): one
    INSERT for one, its number read in it; many at once by COPY on PostgreSQL, by a prepared
    INSERT the driver runs per row on SQLite (``sql_rows.Rows``). A
    revision's time is its row's ``updated_at`` (that of the write, so that an export ``as_of``
    agrees with the annotations' own timestamps), or now for a deletion. Each is numbered after
    the annotation's last revision, read here, after the caller's write: on PostgreSQL that write
    holds the annotation's row, so a concurrent change of it waits and numbers its revision after
    this one. ``first``: the annotations are new, their revisions are number 1. ``account_id``
    defaults to the caller's."""
    now = utcnow()
    items = [_values(a, operation != "deleted") for a in annotations]
    if not items:
        return
    account_id = current_account_id() if account_id is None else account_id
    if len(items) == 1:  # one statement, its number read in it
        _insert_numbered(_revision(items[0], None, operation, account_id, now))
        return
    numbers = {} if first else last_numbers([item["id"] for item in items])
    batch = sql_rows.Rows(AnnotationRevision, {"operation": operation, "account_id": account_id}, MANY)
    text = AnnotationRevision.dimensions._dumps  # JSON as text (an import's, already text, as it is)
    for item, rid in zip(items, uuid7_many(len(items)), strict=True):
        number = numbers.get(item["id"], 0) + 1
        batch.add(rid, item["id"], item["entry_id"], number, item.get("at") or now,
                  text(item["dimensions"]), text(item["annotation"]), text(item["metadata"]))
    batch.insert()


def _revision(item, number, operation, account_id, now):
    return {"id": uuid7(), "annotation_id": item["id"], "entry_id": item["entry_id"], "number": number,
            "operation": operation, "account_id": account_id, "at": item.get("at") or now,
            "dimensions": item["dimensions"], "annotation": item["annotation"], "metadata": item["metadata"]}


@cache
def _numbered(sqlite):
    """INSERT of one revision numbered after the annotation's last, by a subquery in its VALUES
    (the column's type then types the parameters, on PostgreSQL too): the parameter of ``number``
    is the annotation's id."""
    after = 'SELECT COALESCE(MAX("number"), 0) + 1 FROM "annotation_revision" WHERE "annotation_id" = {q}'
    fields = sql_rows.plan(AnnotationRevision)[0]
    json = "json({q})" if sqlite else "{q}"
    marks = [f"({after})" if f.name == "number" else json if isinstance(f, JSONField) else "{q}"
             for f in fields]
    names = ", ".join(f'"{f.column_name}"' for f in fields)
    return f'INSERT INTO "annotation_revision" ({names}) VALUES ({", ".join(marks)})'.replace("{q}", db.param)


def _insert_numbered(revision):
    values = {**revision, "number": revision["annotation_id"]}
    params = [None if values[name] is None else to_db(values[name])
              for name, to_db in sql_rows.plan(AnnotationRevision)[1]]
    db.execute_sql(_numbered(is_sqlite()), params)


def _values(annotation, stamped):
    if isinstance(annotation, dict):
        return annotation
    return {"id": str(annotation.id), "entry_id": str(annotation.entry_id),
            "dimensions": annotation.dimensions, "annotation": annotation.annotation,
            "metadata": annotation.metadata, "at": annotation.updated_at if stamped else None}


def last_numbers(annotation_ids):
    """{annotation id: its last revision's number} for those of ``annotation_ids`` that have one."""
    found = {}
    for part in range(0, len(annotation_ids), CHUNK):
        ids = annotation_ids[part:part + CHUNK]
        marks = ", ".join([db.param] * len(ids))
        cursor = db.execute_sql(f'SELECT "annotation_id", MAX("number") FROM "annotation_revision" '
                                f'WHERE "annotation_id" IN ({marks}) GROUP BY "annotation_id"', ids)
        found.update(cursor.fetchall())
    return found
