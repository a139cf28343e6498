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

from dataset_api.migrations.indexes import build_index

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
        build_index(database, export_index(), NAME)
