"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is a function of the database, listed in ``MIGRATIONS`` under a version number
that is never reused. A migration declares the tables it touches as frozen Peewee models of its
own, as they were at its step, and never imports ``dataset_api.models``: the live models move on,
a migration must build the same thing on every fresh database. Later ones change existing tables
with ``playhouse.migrate`` operations or Peewee index declarations.
"""

import logging

from peewee import CharField, DateTimeField, IntegerField, Model

from dataset_api.migrations import m0001_initial, m0002_entry_listing_index

log = logging.getLogger("dataset_api.migrations")

MIGRATIONS = [
    (1, "initial schema", m0001_initial.up),
    (2, "entry listing index", m0002_entry_listing_index.up),
]


class SchemaMigration(Model):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=255)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_migrations"


def pending(database):
    """The migrations ``database`` has not recorded, as [(version, name)], in order (every one
    when it has no ``schema_migrations`` table yet). Call with a connection open."""
    if not database.table_exists(SchemaMigration._meta.table_name):
        return [(version, name) for version, name, _up in MIGRATIONS]
    with database.bind_ctx([SchemaMigration]):
        done = {m.version for m in SchemaMigration.select(SchemaMigration.version)}
    return [(version, name) for version, name, _up in MIGRATIONS if version not in done]


def migrate(database):
    """Apply every pending migration; return the versions applied."""
    from dataset_api.models import utcnow

    applied_now = []
    with database.bind_ctx([SchemaMigration]), database.connection_context():
        with database.atomic():
            if "Postgres" in database.__class__.__name__:
                database.execute_sql("SELECT pg_advisory_xact_lock(727274)")
            database.create_tables([SchemaMigration], safe=True)
            done = {m.version for m in SchemaMigration.select()}
            for version, name, up in MIGRATIONS:
                if version in done:
                    continue
                log.info("applying migration %04d %s", version, name)
                up(database)
                SchemaMigration.create(version=version, name=name, applied_at=utcnow())
                applied_now.append(version)
    return applied_now
