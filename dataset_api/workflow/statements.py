"""The work queue's statements, their SQL written here: every claim and every workflow action runs
them, and peewee takes longer to build each of them (0.1–0.6 ms) than the database takes to answer
it (docs/performance.md, "Where a claim's time goes"). Each text is made once per shape and
database kind; values go as parameters, converted by their field as peewee converts them; rows
come back as model instances through ``Model.raw`` (peewee's own column conversions).

Only statements whose shape is fixed live here. What a caller shapes (a claim narrowed by filters,
every list) is built by peewee from the registry's declarations.
"""

from functools import cache

from dataset_api import writes
from dataset_api.db import db, is_postgresql, is_sqlite
from dataset_api.models import Dataset, Entry, utcnow

ENTRY_COLUMNS = tuple(f.column_name for f in Entry._meta.sorted_fields)
QUEUE_ORDER = '"priority" DESC, "created_at" ASC, "id" ASC'  # Entry.queue_order's, entry_queue's


def _text(sql):
    """``sql`` with its ``?`` placeholders in the bound database's parameter style."""
    return sql if is_sqlite() else sql.replace("?", db.param)


def _entry_columns():
    return ", ".join(f'"{name}"' for name in ENTRY_COLUMNS)


@cache
def _dataset_with_caller(sqlite):
    return _text(
        'SELECT d."id", d."project_id", d."workflow_configuration", '
        'p."organization_id" AS "caller_organization_id", '
        '(SELECT m."role" FROM "project_member" m WHERE m."project_id" = d."project_id" '
        'AND m."account_id" = ? AND m."disabled_at" IS NULL) AS "caller_member_role" '
        'FROM "dataset" d JOIN "project" p ON p."id" = d."project_id" WHERE d."id" = ?')


def dataset_with_caller(dataset_id, account_id):
    """The ``id``, ``project_id`` and ``workflow_configuration`` of dataset ``dataset_id`` (None if
    there is none), with two more attributes for the caller's role in its project
    (``roles.role_in``): ``caller_organization_id`` (the project's organization) and
    ``caller_member_role`` (the caller's enabled membership's role, or None). One statement."""
    rows = list(Dataset.raw(_dataset_with_caller(is_sqlite()), account_id, str(dataset_id)))
    return rows[0] if rows else None


@cache
def _own(steps, sqlite):
    marks = ", ".join("?" * steps)
    return _text(
        f'SELECT {_entry_columns()} FROM "entry" WHERE "dataset_id" = ? AND "assigned_to_id" = ? '
        f'AND "status" = ? AND "wf_step" IN ({marks}) ORDER BY {QUEUE_ORDER} LIMIT 1')


def own_entry(dataset_id, account_id, steps):
    """The caller's in-progress entry of the dataset at one of ``steps``, first in queue order."""
    rows = list(Entry.raw(_own(len(steps), is_sqlite()), str(dataset_id), account_id, "in_progress",
                          *steps))
    return rows[0] if rows else None


@cache
def _head(skip_locked, sqlite):
    # one index entry (entry_queue: dataset, step, then the queue's order, unassigned rows only).
    # SQLite is told so: on a database never analyzed, with LIMIT 1 written out, its planner takes
    # entry_assigned_to_id for "IS NULL" and sorts every waiting entry (19 ms at 100,000 entries,
    # bench/queue_plans.py); INDEXED BY fails loudly if the index ever cannot serve the query
    table = '"entry" INDEXED BY "entry_queue"' if sqlite else '"entry"'
    sql = (f'SELECT "id", "priority", "created_at" FROM {table} WHERE "dataset_id" = ? '
           f'AND "assigned_to_id" IS NULL AND "wf_step" = ? ORDER BY {QUEUE_ORDER} LIMIT 1')
    return _text(sql + (" FOR UPDATE SKIP LOCKED" if skip_locked else ""))


def queue_head(dataset_id, step):
    """(id, priority, created_at) of the first unassigned entry at ``step``, or None. On PostgreSQL
    an entry another transaction holds is skipped (its claim is under way) and the one returned is
    held until this transaction ends."""
    cursor = db.execute_sql(_head(is_postgresql(), is_sqlite()), (str(dataset_id), step))
    row = cursor.fetchone()
    return None if row is None else (row[0], row[1], Entry.created_at.python_value(row[2]))


@cache
def _entry(share, sqlite):
    return _text(f'SELECT {_entry_columns()} FROM "entry" WHERE "id" = ?' + (" FOR SHARE" if share else ""))


def entry(entry_id, *, share=False):
    """The entry ``entry_id`` (None if there is none); ``share``: on PostgreSQL held (``FOR
    SHARE``) until the transaction ends. Every annotation write reads its entry (its rules: who
    may write, whether it is completed)."""
    rows = list(Entry.raw(_entry(share and is_postgresql(), is_sqlite()), str(entry_id)))
    return rows[0] if rows else None


@cache
def _update(names, versioned, sqlite):
    sets = ", ".join(f'"{Entry._meta.fields[name].column_name}" = ?' for name in names)
    where = '"id" = ? AND "version" = ?' if versioned else '"id" = ?'
    return _text(f'UPDATE "entry" SET {sets}, {writes.STAMP.format(param="?")} '
                 f'WHERE {where} RETURNING {_entry_columns()}')


def update_entry(entry_id, changes, version=None):
    """Write ``changes`` (field name -> value) to the entry, bump its version and updated_at; with
    ``version``, only if the entry is still at that version. Return the new row, or None when no
    row matched."""
    names = tuple(sorted(changes))
    fields = Entry._meta.fields
    params = [None if changes[n] is None else fields[n].db_value(changes[n]) for n in names]
    params += [Entry.updated_at.db_value(utcnow()), str(entry_id)]
    if version is not None:
        params.append(version)
    rows = list(Entry.raw(_update(names, version is not None, is_sqlite()), *params))
    return rows[0] if rows else None


@cache
def _counters(relative, sqlite):
    # SQL reads a row's old values on the right of every assignment: progress and status are
    # computed from the new counters' expressions (column + delta, or the new value itself)
    total, done, busy = (f'("{name}" + ?)' if relative else "?" for name in (
        "entries_total_count", "entries_completed_count", "entries_in_progress_count"))
    return _text(
        f'UPDATE "dataset" SET "entries_total_count" = {total}, "entries_completed_count" = {done}, '
        f'"entries_in_progress_count" = {busy}, '
        f'"progress" = CASE WHEN {total} > 0 THEN CAST({done} AS FLOAT) / {total} ELSE 0.0 END, '
        f"\"status\" = CASE WHEN {total} > 0 AND {done} >= {total} THEN 'completed' "
        f"WHEN {busy} > 0 OR {done} > 0 THEN 'in_progress' ELSE 'pending' END, "
        f'{writes.STAMP.format(param="?")} WHERE "id" = ? '
        'RETURNING "id", "project_id", "status", "entries_total_count", "entries_completed_count"')


def shift_counters(dataset_id, total, completed, in_progress, *, relative=True):
    """Add the deltas to the dataset's counters (``relative=False``: set them to these values),
    with progress and status derived in the same SET; return the dataset's new (partial) row, or
    None. One UPDATE: an increment in the database, no read-modify-write."""
    t, c, b = total, completed, in_progress
    params = (t, c, b,  # the three counters
              t, c, t,  # progress
              t, c, t, b, c,  # status
              Dataset.updated_at.db_value(utcnow()), str(dataset_id))
    rows = list(Dataset.raw(_counters(relative, is_sqlite()), *params))
    return rows[0] if rows else None
