"""Multi-row INSERTs with the SQL written here, for the paths that write many rows or write on every
request (a JSON-RPC batch's creates, the outbox): peewee's query builder spends ~80 µs on each row
of a multi-row INSERT, and ~300 µs building a small statement, more than the database takes to
store the rows."""

import io
from functools import cache

from peewee import AutoField, ForeignKeyField, JSONField

from dataset_api.db import db, is_postgresql, is_sqlite


def insert(model, rows, *, key=None, chunk=100):
    """INSERT ``rows`` (dicts naming fields, foreign keys by their column: ``project_id``) into
    ``model``'s table, ``chunk`` a statement, defaults filled as peewee fills them. With ``key`` (a
    field every row gives a distinct value), return the stored rows as RETURNING reads them back,
    in the order of ``rows``; else None. A conflict raises IntegrityError."""
    if not rows:
        return [] if key else None
    meta = model._meta
    rows = with_defaults(model, rows)
    auto_given = meta.primary_key.name in rows[0] or not isinstance(meta.primary_key, AutoField)
    columns = plan(model, auto_given)[1]
    stored = {}
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        params = [None if (value := row.get(name)) is None else to_db(value)
                  for row in part for name, to_db in columns]
        sql = _statement(model, auto_given, len(part), key is not None, is_sqlite())
        cursor = db.execute_sql(sql, params)
        if key is None:
            continue
        every = meta.sorted_fields
        for values in cursor.fetchall():
            data = {f.name: f.python_value(v) for f, v in zip(every, values, strict=True)}
            stored[data[key]] = model(__no_default__=True, **data)
    return [stored[row[key]] for row in rows] if key else None


def with_defaults(model, rows):
    """``rows`` with the defaults of the fields they leave out, filled as peewee fills them (a
    callable default called only for a row that leaves its field out)."""
    meta = model._meta
    static, made = meta._default_by_name, meta._default_callable_list
    filled = []
    for values in rows:
        row = {**static, **values}
        for name, make in made:
            if name not in values:
                row[name] = make()
        filled.append(row)
    return filled


@cache
def plan(model, auto_given=True):
    """(the fields an INSERT into ``model``'s table names, their ``column``): an auto-incremented
    id no row gives (``auto_given`` False) is left to the database (PostgreSQL refuses NULL for
    it), as is a column the database fills (``filled_by_database``: the event's transaction)."""
    fields = tuple(f for f in model._meta.sorted_fields if not (isinstance(f, AutoField) and not auto_given)
                   and not getattr(f, "filled_by_database", False))
    return fields, tuple(column(field) for field in fields)


class Rows:
    """Rows of one table as lists in its columns' order, their values ready for the driver (JSON
    as text): the columns every row shares are filled once, the others set per row. For the
    paths that write thousands of rows (an import's entries, annotations and their revisions)."""

    def __init__(self, model, shared, varying):
        self.model = model
        self.fields = model._meta.sorted_fields
        names = [f.name for f in self.fields]
        self.template = [None] * len(names)
        for name, value in shared.items():
            self.template[names.index(name)] = value
        self.slots = [names.index(name) for name in varying]
        self.rows = []

    def add(self, *values):
        row = self.template.copy()
        for slot, value in zip(self.slots, values, strict=True):
            row[slot] = value
        self.rows.append(row)

    def insert(self):
        """Write the rows without reading them back: COPY on PostgreSQL, one prepared INSERT run
        per row by the driver on SQLite (``insert`` writes rows given as dicts, and can read them
        back)."""
        if not self.rows:
            return
        columns = ", ".join(f'"{f.column_name}"' for f in self.fields)
        table = self.model._meta.table_name
        cursor = db.cursor()
        if is_postgresql():  # COPY: ~1.6x the rate of multi-row INSERTs here
            cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', copy_text(self.rows))
        else:  # JSON as text through json(), as peewee's JSONField sends it
            marks = ", ".join("json(?)" if isinstance(f, JSONField) else "?" for f in self.fields)
            cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', self.rows)
        self.rows = []


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


@cache  # one text per table, field set, row count and database kind
def _statement(model, auto_given, count, returning, sqlite):
    """INSERT … VALUES (…) × count [RETURNING every column, in the model's field order]."""
    fields = plan(model, auto_given)[0]

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
