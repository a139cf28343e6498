"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is a function of the database, listed in ``MIGRATIONS`` under a version number
that is never reused. A migration declares the tables it touches as frozen Peewee models of its
own, as they were at its step, and never imports ``dataset_api.models``: the live models move on,
a migration must build the same thing on every fresh database. Later ones change existing tables
with ``playhouse.migrate`` operations or Peewee index declarations.
"""

import inspect
import logging
import time
from contextlib import nullcontext

from peewee import CharField, DateTimeField, IntegerField, Model

from dataset_api.migrations import (
    m0001_initial,
    m0002_entry_listing_index,
    m0003_entry_queue_index,
    m0004_entry_export_index,
    m0005_events,
    m0006_entry_page_indexes,
    m0007_webhook_url_credentials,
    m0008_event_log,
    m0009_annotation_revisions,
)

log = logging.getLogger("dataset_api.migrations")

MIGRATIONS = [
    (1, "initial schema", m0001_initial.up),
    (2, "entry listing index", m0002_entry_listing_index.up),
    (3, "entry queue index", m0003_entry_queue_index.up),
    (4, "entry export index", m0004_entry_export_index.up),
    (5, "events, webhooks and deliveries", m0005_events.up),
    (6, "entry page indexes", m0006_entry_page_indexes.up),
    (7, "webhook url credentials removed", m0007_webhook_url_credentials.up),
    (8, "the event log", m0008_event_log.up),
    (9, "annotation revisions", m0009_annotation_revisions.up),
]


LOCK_KEY = 727274  # PostgreSQL advisory lock: one process migrates at a time
LOCK_POLL_SECONDS = 0.2


class SchemaMigration(Model):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=255)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_migrations"


def transactional(up):
    """False for a migration whose module says ``TRANSACTIONAL = False``: on PostgreSQL it runs
    outside a transaction (``CREATE INDEX CONCURRENTLY`` must) and is written to be run again
    if interrupted. SQLite runs every migration in a transaction."""
    return getattr(inspect.getmodule(up), "TRANSACTIONAL", True)


def pending(database):
    """The migrations ``database`` has not recorded, as [(version, name)], in order (every one
    when it has no ``schema_migrations`` table yet). Call with a connection open."""
    if not database.table_exists(SchemaMigration._meta.table_name):
        return [(version, name) for version, name, _up in MIGRATIONS]
    with database.bind_ctx([SchemaMigration]):
        done = {m.version for m in SchemaMigration.select(SchemaMigration.version)}
    return [(version, name) for version, name, _up in MIGRATIONS if version not in done]


def _take_turn(database):
    """Take the migration lock (a session advisory lock), trying again until it is free. Not
    ``pg_advisory_lock``, which waits inside a statement: ``CREATE INDEX CONCURRENTLY`` in the
    holder's migration waits for every statement running before it to end, so the holder would
    wait for its waiters, a deadlock."""
    while not database.execute_sql("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        time.sleep(LOCK_POLL_SECONDS)


def migrate(database):
    """Apply every pending migration, each in a transaction of its own with its record; return the
    versions applied. Processes migrating one database at once take turns: on PostgreSQL a session
    advisory lock held for the whole run, on SQLite each migration's write transaction; each looks
    again, in its turn, for what is still to apply."""
    from dataset_api.models import utcnow

    postgres = "Postgres" in database.__class__.__name__
    applied_now = []
    with database.bind_ctx([SchemaMigration]), database.connection_context():
        if postgres:
            _take_turn(database)
        try:
            with database.atomic():
                database.create_tables([SchemaMigration], safe=True)
            for version, name, up in MIGRATIONS:
                in_transaction = not postgres or transactional(up)
                with database.atomic() if in_transaction else nullcontext():
                    if SchemaMigration.get_or_none(SchemaMigration.version == version) is not None:
                        continue
                    log.info("applying migration %04d %s", version, name)
                    up(database)
                    SchemaMigration.create(version=version, name=name, applied_at=utcnow())
                    applied_now.append(version)
        finally:
            if postgres:
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now
