"""0002: an index serving the common entry listing (a dataset's entries of one status, by
priority then age) for both its filter and its order, so a page stops after page[size] rows."""

NAME = "entry_dataset_status_priority_created"
COLUMNS = ("dataset_id", "status", "priority DESC", "created_at", "id")


def up(database):
    database.execute_sql(
        f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "entry" ({", ".join(COLUMNS)})')
