"""0004: an index for the export, which reads a dataset's entries in (created_at, id) order by
keyset: ``dataset_id = ? AND created_at >= ? AND (created_at > ? OR id > ?) ORDER BY created_at, id
LIMIT 1000``. With it each chunk is a range of the index; without it every chunk sorted the rest
of the dataset (SQLite searched ``entry_dataset_id_resource``), so an export cost the square of
the dataset's size.

Built as 0003 builds its index: ``CONCURRENTLY`` on PostgreSQL (``TRANSACTIONAL = False``), an
invalid index left by an interrupted build dropped and built again. ``Entry`` is a frozen view of
the columns the index reads.
"""

from peewee import CharField, DateTimeField, Model

TRANSACTIONAL = False
NAME = "entry_dataset_created"


class Entry(Model):
    id = CharField(primary_key=True, max_length=36)
    dataset_id = CharField(max_length=36)
    created_at = DateTimeField()

    class Meta:
        table_name = "entry"


def export_index():
    return Entry.index(Entry.dataset_id, Entry.created_at, Entry.id, name=NAME, safe=True)


def up(database):
    with database.bind_ctx([Entry]):
        if "Postgres" not in database.__class__.__name__:
            with database.atomic():
                database.execute(export_index())
            return
        valid = database.execute_sql(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace", (NAME,)).fetchone()
        if valid is not None and not valid[0]:  # left invalid by an interrupted build
            database.execute_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"')
        sql, params = database.get_sql_context().sql(export_index()).query()
        database.execute_sql(sql.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1), params)
