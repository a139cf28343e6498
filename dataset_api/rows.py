"""Multi-row INSERTs with the SQL written here, for the paths that write many rows or write on every
request (a JSON-RPC batch's creates, the outbox): peewee's query builder spends ~80 µs on each row
of a multi-row INSERT, and ~300 µs building a small statement, more than the database takes to
store the rows."""

import io
from functools import cache

from peewee import AutoField, ForeignKeyField, JSONField, chunked

from dataset_api.db import db, is_sqlite


def insert(model, rows, *, key=None, chunk=100):
    """INSERT ``rows`` (dicts naming fields, foreign keys by their column: ``project_id``) into
    ``model``'s table, ``chunk`` a statement, defaults filled as peewee fills them. With ``key`` (a
    field every row gives a distinct value), return the stored rows as RETURNING reads them back,
    in the order of ``rows``; else None. A conflict raises IntegrityError."""
    if not rows:
        return [] if key else None
    meta = model._meta
    rows = [{**meta.get_default_dict(), **values} for values in rows]
    # an auto-incremented id no row gives is left to the database (PostgreSQL refuses NULL for it),
    # as is a column the database fills (``filled_by_database``: the event's transaction)
    fields = tuple(f for f in meta.sorted_fields if not (isinstance(f, AutoField) and f.name not in rows[0])
                   and not getattr(f, "filled_by_database", False))
    columns = [column(field) for field in fields]
    stored = {}
    for part in chunked(rows, chunk):
        params = [None if row.get(name) is None else to_db(row[name])
                  for row in part for name, to_db in columns]
        cursor = db.execute_sql(_insert_sql(model, fields, len(part), key is not None), params)
        if key is None:
            continue
        every = meta.sorted_fields
        for values in cursor.fetchall():
            data = {f.name: f.python_value(v) for f, v in zip(every, values, strict=True)}
            stored[data[key]] = model(__no_default__=True, **data)
    return [stored[row[key]] for row in rows] if key else None


def copy(model, rows):
    """COPY ``rows`` (dicts as ``insert`` takes them) into ``model``'s table, defaults filled as
    peewee fills them: PostgreSQL only, for many rows (about 1.6 times the rate of multi-row
    INSERTs). Nothing is read back; a conflict raises IntegrityError."""
    if not rows:
        return
    meta = model._meta
    fields = meta.sorted_fields
    columns = [column(field) for field in fields]
    lists = [[None if values.get(name) is None else to_db(values[name]) for name, to_db in columns]
             for values in ({**meta.get_default_dict(), **row} for row in rows)]
    names = ", ".join(f'"{f.column_name}"' for f in fields)
    db.cursor().copy_expert(f'COPY "{meta.table_name}" ({names}) FROM STDIN', copy_text(lists))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(rows):
    """``rows`` (lists of values) in PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL)."""
    out = io.StringIO()
    for row in rows:
        out.write("\t".join("\\N" if v is None else v.translate(_COPY_ESCAPES) if isinstance(v, str)
                            else str(v) for v in row))
        out.write("\n")
    out.seek(0)
    return out


def column(field):
    """(the key of ``field`` in a row, its value -> parameter); rows name foreign keys by column."""
    name = field.column_name if isinstance(field, ForeignKeyField) else field.name
    return name, field._dumps if isinstance(field, JSONField) else field.db_value


def _insert_sql(model, fields, count, returning):
    return _statement(model, fields, count, returning, is_sqlite())


@cache  # one text per table, field set, row count and database kind
def _statement(model, fields, count, returning, sqlite):
    """INSERT … VALUES (…) × count [RETURNING every column, in the model's field order]."""
    def quoted(name):
        return f"{db.quote[0]}{name}{db.quote[1]}"

    names = ", ".join(quoted(f.column_name) for f in fields)
    # JSON goes as text, as peewee's JSONField sends it: through json() on SQLite (compact,
    # JSON-typed), as a plain literal that PostgreSQL parses into its jsonb column
    json_param = "json(?)" if sqlite else db.param
    group = "(" + ", ".join(json_param if isinstance(f, JSONField) else db.param for f in fields) + ")"
    sql = f"INSERT INTO {quoted(model._meta.table_name)} ({names}) VALUES {', '.join([group] * count)}"
    if returning:
        sql += " RETURNING " + ", ".join(quoted(f.column_name) for f in model._meta.sorted_fields)
    return sql
