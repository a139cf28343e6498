"""Entries: the data items annotated and moved through the workflow."""

from peewee import BigIntegerField, CharField, ForeignKeyField, IntegerField, TextField

from dataset_api.models.base import UUIDModel
from dataset_api.models.dataset import Dataset
from dataset_api.models.project import Project


class Entry(UUIDModel):
    dataset = ForeignKeyField(Dataset, on_delete="CASCADE", index=False)  # (dataset, resource) leads
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    priority = IntegerField(default=0)
    resource = TextField()
    job_id = CharField(max_length=255, null=True, index=True)
    wf_step = CharField(max_length=16, default="annotate", index=True)
    status = CharField(max_length=16, default="pending", index=True)
    assigned_to_id = BigIntegerField(null=True, index=True)
    submitted_by_id = BigIntegerField(null=True, index=True)
    reviewed_by_id = BigIntegerField(null=True, index=True)
    error_message = TextField(null=True)

    class Meta:
        indexes = (
            (("dataset", "resource"), True),
        )

    @classmethod
    def filter_participated(cls, op, account_id):
        """Entries assigned to, submitted by or reviewed by ``account_id``."""
        return ((cls.assigned_to_id == account_id) | (cls.submitted_by_id == account_id)
                | (cls.reviewed_by_id == account_id))

    @classmethod
    def filter_assigned(cls, op, assigned):
        return cls.assigned_to_id.is_null(not assigned)

    @classmethod
    def in_dataset(cls, dataset_id):
        return cls.select().where(cls.dataset == dataset_id)

    @classmethod
    def waiting(cls, dataset_id, steps):
        """Unassigned entries of a dataset at one of ``steps``: the work queue."""
        return cls.in_dataset(dataset_id).where(cls.assigned_to_id.is_null(), cls.wf_step.in_(steps))

    @classmethod
    def queue_order(cls, select):
        """Highest priority first, then the oldest, then by id."""
        return select.order_by(cls.priority.desc(), cls.created_at.asc(), cls.id.asc())


# Indexes the migrations create, declared here as well so that create_tables on the models builds
# the schema the migrations build.
# The common listing (a dataset's entries of one status, in queue order) filters and orders on one
# index, so a page stops after page[size] rows (migration 0002).
Entry.add_index(Entry.index(Entry.dataset, Entry.status, Entry.priority.desc(), Entry.created_at, Entry.id,
                            name="entry_dataset_status_priority_created"))
# The work queue (``waiting`` in ``queue_order``, one step): only unassigned entries, in the queue's
# order, so a claim reads one index entry whatever the dataset's size (migration 0003).
Entry.add_index(Entry.index(Entry.dataset, Entry.wf_step, Entry.priority.desc(), Entry.created_at, Entry.id,
                            name="entry_queue", where=Entry.assigned_to_id.is_null()))
# The export reads a dataset's entries in (created_at, id) order by keyset: each chunk a range of
# this index (migration 0004).
Entry.add_index(Entry.index(Entry.dataset, Entry.created_at, Entry.id, name="entry_dataset_created"))
# A dataset's entries page by page in the default order and by -priority: each page one range of
# an index, however deep (jsonapi.build.after; migration 0006).
Entry.add_index(Entry.index(Entry.dataset, Entry.id, name="entry_dataset_id_order"))
Entry.add_index(Entry.index(Entry.dataset, Entry.priority.desc(), Entry.id,
                            name="entry_dataset_priority_order"))
