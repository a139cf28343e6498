"""0002: an index serving the common entry listing (a dataset's entries of one status, by
priority then age) for both its filter and its order, so a page stops after page[size] rows.

``Entry`` is a frozen view of the entry table with only the columns the index reads, so the index
stays what it was at this step whatever the live model becomes; the live ``Entry`` declares the
same index for databases built from the models. ``safe`` (IF NOT EXISTS) keeps it idempotent.
"""

from peewee import CharField, DateTimeField, IntegerField, Model

NAME = "entry_dataset_status_priority_created"


class Entry(Model):
    id = CharField(primary_key=True, max_length=36)
    dataset_id = CharField(max_length=36)
    status = CharField(max_length=16)
    priority = IntegerField()
    created_at = DateTimeField()

    class Meta:
        table_name = "entry"


def listing_index():
    return Entry.index(Entry.dataset_id, Entry.status, Entry.priority.desc(), Entry.created_at,
                       Entry.id, name=NAME, safe=True)


def up(database):
    with database.bind_ctx([Entry]):
        database.execute(listing_index())
