"""Dataset counters, changed by SQL increments in the entry's own transaction (no read-modify-write)."""

from peewee import Case

from dataset_api.models import Dataset, Entry, utcnow

COMPLETED = ("completed", "errored")  # both count as finished work


def _refresh_derived(dataset_id):
    """Recompute progress and status from the counters, inside the database."""
    total, done, busy = (Dataset.entries_total_count, Dataset.entries_completed_count,
                         Dataset.entries_in_progress_count)
    Dataset.update(
        progress=Case(None, [(total > 0, done.cast("FLOAT") / total)], 0.0),
        status=Case(None, [((total > 0) & (done >= total), "completed"),
                           ((busy > 0) | (done > 0), "in_progress")], "pending"),
    ).where(Dataset.id == dataset_id).execute()


def shift(dataset_id, *, total=0, completed=0, in_progress=0):
    """Add the given deltas to a dataset's counters and refresh progress and status."""
    Dataset.update(
        entries_total_count=Dataset.entries_total_count + total,
        entries_completed_count=Dataset.entries_completed_count + completed,
        entries_in_progress_count=Dataset.entries_in_progress_count + in_progress,
        updated_at=utcnow(),
    ).where(Dataset.id == dataset_id).execute()
    _refresh_derived(dataset_id)


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
        Dataset.update(
            entries_total_count=entries.count(),
            entries_completed_count=entries.where(Entry.status.in_(COMPLETED)).count(),
            entries_in_progress_count=entries.where(Entry.status == "in_progress").count(),
        ).where(Dataset.id == ds.id).execute()
        _refresh_derived(ds.id)
        n += 1
    return n
