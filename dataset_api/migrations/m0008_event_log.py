"""0008: the event log (``GET /events``, issue #22).

Events were kept only while a webhook or Redis listened; now every one is, and read back by
filters and in commit order. ``created_at`` becomes ``at`` (the attribute's name); the ids an
event names (``dataset_id``, ``entry_id``, ``account_id``), until now only in its payload, become
columns to filter and scope on, filled from the payloads already stored; ``txid`` is the writing
transaction (PostgreSQL's ``pg_current_xact_id()``, 0 on SQLite), which with ``id`` orders the log
as transactions commit (docs/events.md, "The event log"); on PostgreSQL a trigger notifies the live
streams of new events. Every change is in place, so the table
is not rebuilt; each statement reads as peewee writes the live model's columns, so a migrated
database and one built from the models are the same.
"""

from peewee import BigAutoField, BigIntegerField, CharField, JSONField, Model

from dataset_api.migrations.indexes import is_postgresql

BATCH = 1000
# the new columns, as the live model declares them (peewee's DDL, per database)
COLUMNS = {
    "sqlite": ['"dataset_id" VARCHAR(36)', '"entry_id" VARCHAR(36)', '"account_id" INTEGER',
               '"txid" INTEGER NOT NULL DEFAULT 0'],
    "postgresql": ['"dataset_id" VARCHAR(36)', '"entry_id" VARCHAR(36)', '"account_id" BIGINT',
                   '"txid" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)'],
}
# PostgreSQL: each statement that writes events notifies the live streams' listeners, at commit
# (dataset_api/events/live.py); a rolled-back one notifies nobody
NOTIFY = [
    'CREATE OR REPLACE FUNCTION "dataset_api_event_notify"() RETURNS trigger LANGUAGE plpgsql AS '
    "$$ BEGIN PERFORM pg_notify('dataset_api_events', ''); RETURN NULL; END $$",
    'DROP TRIGGER IF EXISTS "event_notify" ON "event"',
    'CREATE TRIGGER "event_notify" AFTER INSERT ON "event" FOR EACH STATEMENT '
    'EXECUTE FUNCTION "dataset_api_event_notify"()',
]
INDEXES = ['CREATE INDEX "event_at" ON "event" ("at")',
           'CREATE INDEX "event_txid_id" ON "event" ("txid", "id")',
           'CREATE INDEX "event_project_id_txid_id" ON "event" ("project_id", "txid", "id")']


class Event(Model):
    id = BigAutoField()
    payload = JSONField()
    dataset_id = CharField(max_length=36, null=True)
    entry_id = CharField(max_length=36, null=True)
    account_id = BigIntegerField(null=True)

    class Meta:
        table_name = "event"


def up(database):
    kind = "postgresql" if is_postgresql(database) else "sqlite"
    database.execute_sql('ALTER TABLE "event" RENAME COLUMN "created_at" TO "at"')
    database.execute_sql('DROP INDEX "event_created_at"')
    for column in COLUMNS[kind]:
        database.execute_sql(f'ALTER TABLE "event" ADD COLUMN {column}')
    for statement in INDEXES + (NOTIFY if kind == "postgresql" else []):
        database.execute_sql(statement)
    with database.bind_ctx([Event]):
        _fill_ids()


def _fill_ids():
    """The ids of each stored event's metadata, in its columns (events are kept for days: a few
    thousand rows a batch)."""
    last = 0
    while True:
        batch = list(Event.select(Event.id, Event.payload).where(Event.id > last)
                     .order_by(Event.id).limit(BATCH))
        if not batch:
            return
        for event in batch:
            metadata = event.payload.get("metadata") or {}
            if any(metadata.get(k) is not None for k in ("dataset_id", "entry_id", "account_id")):
                Event.update(dataset_id=metadata.get("dataset_id"), entry_id=metadata.get("entry_id"),
                             account_id=metadata.get("account_id")).where(Event.id == event.id).execute()
        last = batch[-1].id
