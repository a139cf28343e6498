"""0003: the work queue on an index of its own, and three indexes that served no query dropped.

``GET /entries/next`` looks for the best unassigned entry of a dataset at one workflow step:
``dataset_id = ? AND wf_step = ? AND assigned_to_id IS NULL ORDER BY priority DESC, created_at, id``.
``entry_queue`` holds exactly those rows (partial: ``WHERE assigned_to_id IS NULL``) in exactly
that order, so a claim reads one index entry however many entries the dataset holds. It replaces
the index of 0001 whose column order did not fit (ascending priority, ``assigned_to_id`` before the
order, no ``id``): PostgreSQL walked ``entry_priority`` backwards and sorted a whole priority group.
Also dropped: ``entry_dataset_id`` and ``entry_dataset_id_status``, the leading columns of
``entry_dataset_id_resource`` and of the listing index of 0002, which serve every query they did;
every index on ``entry`` is written on each insert.

On PostgreSQL the index is built and the old ones dropped ``CONCURRENTLY`` (``TRANSACTIONAL =
False``: outside a transaction), so writes go on while a large table is indexed; an interrupted
build leaves an invalid index, dropped and built again on the next run.

``Entry`` is a frozen view of the columns the index reads, as in 0002.
"""

from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, Model

from dataset_api.migrations.indexes import build_index, is_postgresql

TRANSACTIONAL = False
NAME = "entry_queue"
DROPPED = ("entry_dataset_id_wf_step_assigned_to_id_priority_created_at", "entry_dataset_id_status",
           "entry_dataset_id")


class Entry(Model):
    id = CharField(primary_key=True, max_length=36)
    dataset_id = CharField(max_length=36)
    wf_step = CharField(max_length=16)
    priority = IntegerField()
    created_at = DateTimeField()
    assigned_to_id = BigIntegerField(null=True)

    class Meta:
        table_name = "entry"


def queue_index():
    return Entry.index(Entry.dataset_id, Entry.wf_step, Entry.priority.desc(), Entry.created_at, Entry.id,
                       name=NAME, safe=True, where=Entry.assigned_to_id.is_null())


def up(database):
    with database.bind_ctx([Entry]):
        build_index(database, queue_index(), NAME)
        drop = "DROP INDEX CONCURRENTLY IF EXISTS" if is_postgresql(database) else "DROP INDEX IF EXISTS"
        for name in DROPPED:
            database.execute_sql(f'{drop} "{name}"')
