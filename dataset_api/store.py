"""Row-level operations shared by the JSON:API and JSON-RPC front ends: read a page, insert,
change and remove one record inside a transaction, with the resource's rules applied; each write
stamped and recorded by ``writes`` (the one write path)."""

from peewee import AutoField, IntegrityError

from dataset_api import rows as sql_rows
from dataset_api import writes
from dataset_api.auth import permissions
from dataset_api.auth.roles import forget_memberships
from dataset_api.db import db, is_postgresql
from dataset_api.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from dataset_api.events import outbox
from dataset_api.jsonapi import build
from dataset_api.jsonapi.values import unstorable


def scope(resource, select):
    """Narrow a select to what the caller may read."""
    return permissions.scope(resource, select)


def permit(resource, action, user, record):
    """Raise 403 unless ``user`` may ``action`` the readable ``record`` (a row or new values)."""
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name, None)
    permissions.require(resource, action, user, organization_id=get("organization_id"),
                        author=get("created_by_email") if action != "create" else None,
                        **resource.permit_context(get))


def key(resource, resource_id):
    """The column value of ``resource_id``, or None when it can name no record (not sent to the
    database: a driver refuses text holding U+0000 or an unpaired surrogate)."""
    text = str(resource_id)
    if resource.id_kind == "integer":
        # ASCII digits only: str.isdigit() also accepts "³", which int() refuses
        return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
    return None if unstorable(text) else text


def get_or_404(resource, resource_id, *, lock=False):
    """Return the row with ``resource_id``; raise ``NotFound`` (also for what the caller can't see).

    ``lock``: on PostgreSQL, hold the row (``FOR UPDATE``) until the transaction ends, so what is
    checked on it stays true until the write; a row changed meanwhile is read as committed (and
    re-checked against the read scope). SQLite's write transactions hold the whole database."""
    model = build.model_of(resource)
    value = key(resource, resource_id)
    row = None
    if value is not None:  # an id no database takes names no record, and is never sent to one
        select = scope(resource, model.select()).where(build.column(model, resource.key) == value)
        if lock and is_postgresql():
            select = select.for_update(of=model)
        row = select.first()
    if row is None:
        raise not_found(resource, resource_id)
    return row


def not_found(resource, resource_id):
    return NotFound(f"No {resource.type} with id {resource_id!r}.")


def shown(resource, select):
    """Narrow a select to what an index shows the caller: what it may read, of the rows every
    index may show yet (``resource.settled``: events whose place in commit order is settled)."""
    select = scope(resource, select)
    settled = resource.settled() if resource.settled is not None else None
    return select if settled is None else select.where(settled)


def page(resource, q):
    """Return (rows, has_more, count or None) for a parsed index query."""
    model = build.model_of(resource)
    readable = shown(resource, model.select())
    select = build.filtered(model, readable, q.filters)
    rows, has_more = build.page(model, build.ordered(model, select, q.sort, q.tail), q, readable)
    return rows, has_more, select.count() if q.count else None


def insert(resource, values, user, client_id=None):
    """Create a record from checked attribute ``values``; return the stored row."""
    model = build.model_of(resource)
    with db.atomic():
        resource.before_create(resource, values, user)
        permit(resource, "create", user, values)
        if client_id is not None:
            if isinstance(model.id, AutoField):  # JSON:API: unsupported client ids are a 403
                raise Forbidden(f"{resource.type} ids are assigned by the server.", code="server_assigned_id",
                                pointer="/data/id")
            if model.select().where(model.id == client_id).exists():
                raise Conflict(f"Id {client_id} is already taken.", pointer="/data/id", code="id_taken")
            values["id"] = client_id
        # the row as stored, read back by the INSERT itself (RETURNING)
        row = _write(resource, lambda: writes.returned(model.insert(model(**values).__data__)))
        forget_memberships(model)
        if resource.after_create is not None:  # a rule that may change it: read it again after
            resource.after_create(resource, row)
            row = model.get_by_id(row.id)
        # not ``first``: a client's id may be a deleted annotation's, numbered after its revisions
        writes.recorded(resource, "created", [(row, outbox.written(resource, row, values))])
    return row


def change(resource, resource_id, values, user, precondition=None):
    """Apply ``values`` to a record; ``precondition(row)`` may demand a version (else 412)."""
    model = build.model_of(resource)
    with db.atomic():
        row = get_or_404(resource, resource_id)
        permit(resource, "update", user, row)
        expected = precondition(row) if precondition else None
        _hook(resource.before_update, resource, row, values, user)
        stmt = writes.update_statement(model, row.id, values, expected)
        row = _write(resource, lambda: writes.returned(stmt))  # the row as stored now, or None
        if row is None:
            raise PreconditionFailed("The resource changed since you read it (If-Match).",
                                     code="stale_version")
        forget_memberships(model)
        _hook(resource.after_update, resource, row)
        writes.recorded(resource, "updated", [(row, outbox.written(resource, row, values))])
    return row


def remove(resource, resource_id, user, precondition=None):
    """Delete a record and everything under it. The row is read locked: its ``before_delete`` rule
    (an entry in progress cannot go) and ``after_delete`` (the counters it leaves) must see the row
    the DELETE removes, not one a concurrent claim changed in between."""
    model = build.model_of(resource)
    with db.atomic():
        row = get_or_404(resource, resource_id, lock=True)
        permit(resource, "delete", user, row)
        expected = precondition(row) if precondition else None
        _hook(resource.before_delete, resource, row)
        stmt = model.delete().where(model.id == row.id)
        if expected is not None:
            stmt = stmt.where(model.version == expected)
        if stmt.execute() == 0:
            raise PreconditionFailed("The resource changed since you read it (If-Match).",
                                     code="stale_version")
        forget_memberships(model)
        writes.recorded(resource, "deleted", [(row, None)])
        _hook(resource.after_delete, resource, row)  # after: a dataset it completes follows it


def _hook(function, *args):
    """Run an optional rule of the resource."""
    if function is not None:
        function(*args)


def _write(resource, fn):
    try:
        with db.atomic():  # a savepoint: the outer transaction stays usable after a conflict
            return fn()
    except IntegrityError as exc:
        raise Conflict(_conflict_detail(resource, exc), code="duplicate") from None


def _conflict_detail(resource, exc):
    """A readable 409 detail: the resource's words for the unique column the database names."""
    text = str(exc).lower()
    return next((detail for column, detail in resource.unique.items() if column in text),
                "The change conflicts with an existing record.")


def readable_by_id(resource, ids, *, share=False):
    """Return {id: row} for the rows among ``ids`` that the caller may read, in one SELECT.

    ``share``: on PostgreSQL, hold them (``FOR SHARE``) until the transaction ends, so a change to
    one waits for this transaction and what is checked on them stays true until the write."""
    model = build.model_of(resource)
    keys = sorted({k for k in (key(resource, i) for i in ids) if k is not None})
    if not keys:
        return {}
    select = scope(resource, model.select()).where(model.id.in_(keys))
    if share and is_postgresql():
        select = select.for_update("FOR SHARE", of=model)
    return {str(row.id): row for row in select}


def entry_permit(resource, action, user):
    """Return ``check(values, entry)``: ``permit`` for a record of an entry already read, asking
    the database once per distinct project and assignee; it raises the same 403."""
    verdicts = {}

    def check(values, entry):
        key = (values.get("project_id"), values.get("organization_id"),
               entry.assigned_to_id if entry is not None else None)
        if key not in verdicts:
            try:
                permissions.require(resource, action, user, project_id=key[0],
                                    organization_id=key[1], entry=entry)
                verdicts[key] = None
            except Forbidden as exc:
                verdicts[key] = exc
        if verdicts[key] is not None:
            raise verdicts[key]

    return check


def insert_many(resource, rows, chunk=100):
    """Insert records whose create rules have run, ``chunk`` rows a statement, defaults filled as
    ``insert`` fills them; return the stored rows (as RETURNING reads them back), in order. A
    conflict raises IntegrityError. The SQL is written in ``dataset_api.rows``."""
    model = build.model_of(resource)
    stored = sql_rows.insert(model, rows, key="id", chunk=chunk)
    forget_memberships(model)
    return stored
