"""0006: a dataset's entries listed page by page in the two orders clients page through most, each
page one range of an index, and ``entry_priority`` dropped.

``GET /entries?filter[dataset_id]=…`` orders by ``id`` unless told otherwise, and the labelling
front end lists by ``-priority`` (then ``id``). A page is ``dataset_id = ? [AND the cursor's range]
ORDER BY … LIMIT size + 1`` (``jsonapi.build.after``: rows tied with the cursor on the leading
terms, then those beyond). ``entry_dataset_id_order`` holds ``(dataset_id, id)`` and
``entry_dataset_priority_order`` ``(dataset_id, priority DESC, id)``, so the first page and one
10,000 pages deep read the same few index entries. Without them both databases read every entry
of the dataset and sorted them (SQLite through ``entry_dataset_id_resource``; PostgreSQL walked
``entry_priority`` and sorted each priority group). ``entry_priority`` served only that sort and
an unfiltered ``filter[priority]`` over every dataset; each index on ``entry`` is written on every
insert.

Built as 0003 builds its index: ``CONCURRENTLY`` on PostgreSQL (``TRANSACTIONAL = False``), an
invalid index left by an interrupted build dropped and built again. ``Entry`` is a frozen view of
the columns the indexes read.
"""

from peewee import CharField, IntegerField, Model

from dataset_api.migrations.indexes import build_index, is_postgresql

TRANSACTIONAL = False
BY_ID, BY_PRIORITY = "entry_dataset_id_order", "entry_dataset_priority_order"
DROPPED = ("entry_priority",)


class Entry(Model):
    id = CharField(primary_key=True, max_length=36)
    dataset_id = CharField(max_length=36)
    priority = IntegerField()

    class Meta:
        table_name = "entry"


def page_indexes():
    return (Entry.index(Entry.dataset_id, Entry.id, name=BY_ID, safe=True),
            Entry.index(Entry.dataset_id, Entry.priority.desc(), Entry.id, name=BY_PRIORITY, safe=True))


def up(database):
    with database.bind_ctx([Entry]):
        for index in page_indexes():
            build_index(database, index, index._name)
        drop = "DROP INDEX CONCURRENTLY IF EXISTS" if is_postgresql(database) else "DROP INDEX IF EXISTS"
        for name in DROPPED:
            database.execute_sql(f'{drop} "{name}"')
