"""Dataset counters, changed by SQL increments in the entry's own transaction (no read-modify-write)."""

from dataset_api import writes
from dataset_api.models import Dataset, Entry
from dataset_api.registry import RESOURCES
from dataset_api.workflow import statements

COMPLETED = ("completed", "errored")  # both count as finished work


def shift(dataset_id, *, total=0, completed=0, in_progress=0):
    """Add the given deltas to a dataset's counters and refresh progress and status (one UPDATE,
    ``statements.shift_counters``). When the dataset becomes completed, its ``completed`` event is
    recorded (docs/events.md)."""
    row = statements.shift_counters(dataset_id, total, completed, in_progress)
    if row is not None:
        before_total, before_done = row.entries_total_count - total, row.entries_completed_count - completed
        if row.status == "completed" and not (before_total > 0 and before_done >= before_total):
            _completed(row)


def _completed(dataset):
    writes.recorded(RESOURCES["datasets"], "completed", [(dataset, {
        "status": "completed", "entries_total_count": dataset.entries_total_count,
        "entries_completed_count": dataset.entries_completed_count})])


def status_deltas(old_status, new_status):
    """Return the (completed, in_progress) deltas of an entry moving between statuses."""
    def weights(status):
        return (1 if status in COMPLETED else 0, 1 if status == "in_progress" else 0)
    old, new = weights(old_status), weights(new_status)
    return new[0] - old[0], new[1] - old[1]


def recount(dataset_id=None):
    """Rebuild counters from the entries (all datasets, or one); returns the number rebuilt."""
    datasets = Dataset.select(Dataset.id)
    if dataset_id is not None:
        datasets = datasets.where(Dataset.id == dataset_id)
    n = 0
    for ds in datasets:
        entries = Entry.select().where(Entry.dataset == ds.id)
        counts = (entries.count(), entries.where(Entry.status.in_(COMPLETED)).count(),
                  entries.where(Entry.status == "in_progress").count())
        statements.shift_counters(ds.id, *counts, relative=False)
        n += 1
    return n
