"""The migration chain builds the schema the live models describe, applies each migration once,
and stays frozen when the models change.

Every database here is a throwaway of the test's own: SQLite files under ``tmp_path`` or, when
DATASET_API_TEST_DATABASE_URL is set, PostgreSQL databases created beside the test database and
dropped afterwards, so the tables other tests share are never touched."""

import json
from contextlib import ExitStack

import pytest
from peewee import IntegerField
from playhouse.migrate import SchemaMigrator

from dataset_api import migrations
from dataset_api.db import make_database
from dataset_api.migrations import m0001_initial, m0003_entry_queue_index
from dataset_api.models import MODELS, Annotation, AnnotationRevision, Dataset, Entry, Event, Project, Webhook
from tests.live import PG_URL, dedicated_database

LISTING_INDEX = "entry_dataset_status_priority_created"
QUEUE_INDEX = m0003_entry_queue_index.NAME

# The catalog's own account beside Peewee's introspection, so nothing hangs on what Peewee reads:
# columns as information_schema reports them, each constraint (primary, foreign with its ON DELETE,
# unique) and each index as PostgreSQL would re-create it.
PG_CATALOG = {
    "columns": """
        SELECT table_name, ordinal_position, column_name, data_type, character_maximum_length,
               is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = current_schema()::regnamespace
          AND conrelid::regclass::text <> 'schema_migrations'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'
        ORDER BY 1, 2""",
}
# SQLite keeps each table's and index's CREATE statement: types, defaults, constraints, DESC.
SQLITE_CATALOG = """
    SELECT type, name, tbl_name, sql FROM sqlite_master
    WHERE tbl_name <> 'schema_migrations'
    ORDER BY type, name"""


@pytest.fixture
def blank_database(tmp_path):
    """Make empty databases by name; each is closed, and on PostgreSQL dropped, at teardown."""
    with ExitStack() as stack:
        def blank(name):
            url = stack.enter_context(dedicated_database()) if PG_URL else f"sqlite:///{tmp_path}/{name}.db"
            database = make_database(url)
            stack.callback(database.close_all)
            return database

        yield blank


@pytest.fixture
def later_column():
    """The live Entry with a column no migration creates yet, as while its migration is written."""
    Entry._meta.add_field("later_column", IntegerField(null=True))
    yield "later_column"
    Entry._meta.remove_field("later_column")
    delattr(Entry, "later_column")


def built_from_models(database):
    with database.bind_ctx(MODELS), database.connection_context():
        database.create_tables(MODELS)
    return database


def migrated(database):
    migrations.migrate(database)
    return database


def catalog(database):
    if PG_URL:
        return {key: database.execute_sql(sql).fetchall() for key, sql in PG_CATALOG.items()}
    return database.execute_sql(SQLITE_CATALOG).fetchall()


def describe_table(database, table):
    return {
        "columns": database.get_columns(table),
        "primary_keys": database.get_primary_keys(table),
        "foreign_keys": sorted(database.get_foreign_keys(table)),
        "indexes": sorted(database.get_indexes(table)),
    }


def schema(database):
    """The application's tables as Peewee introspects them, and the catalog's own account."""
    with database.connection_context():
        tables = sorted(set(database.get_tables()) - {"schema_migrations"})
        return {"tables": {table: describe_table(database, table) for table in tables},
                "catalog": catalog(database)}


def column_names(database, table):
    with database.connection_context():
        return [column.name for column in database.get_columns(table)]


def test_migrations_build_the_schema_of_the_models(blank_database):
    chain = schema(migrated(blank_database("chain")))
    models = schema(built_from_models(blank_database("models")))

    assert chain["tables"] == models["tables"]
    assert chain["catalog"] == models["catalog"]
    assert set(chain["tables"]) == {model._meta.table_name for model in MODELS}
    listing = next(i for i in chain["tables"]["entry"]["indexes"] if i.name == LISTING_INDEX)
    assert listing.columns == ["dataset_id", "status", "priority", "created_at", "id"]
    assert "priority DESC" in listing.sql.replace('"', "")


def test_migrating_again_applies_nothing(blank_database):
    database = blank_database("twice")

    assert migrations.migrate(database) == [version for version, _, _ in migrations.MIGRATIONS]
    first = schema(database)
    assert migrations.migrate(database) == []
    assert schema(database) == first


def test_the_initial_tables_ignore_columns_added_to_the_models(blank_database, later_column):
    database = blank_database("initial")
    with database.connection_context():
        m0001_initial.up(database)

    assert later_column in Entry._meta.columns
    assert later_column not in column_names(database, "entry")


def add_later_column(database):
    SchemaMigrator.from_database(database).add_column("entry", "later_column", IntegerField(null=True)).run()


def test_a_migration_adding_a_column_applies_on_a_fresh_database(blank_database, later_column,
                                                                  monkeypatch):
    chain = [*migrations.MIGRATIONS, (99, "later column", add_later_column)]
    monkeypatch.setattr(migrations, "MIGRATIONS", chain)
    database = blank_database("later")

    assert migrations.migrate(database) == [version for version, _, _ in chain]
    assert column_names(database, "entry").count(later_column) == 1


def test_the_queue_index_is_partial_and_replaces_what_it_serves(blank_database):
    database = migrated(blank_database("queue"))
    with database.connection_context():
        indexes = {index.name: index for index in database.get_indexes("entry")}
    queue = indexes[QUEUE_INDEX]
    assert queue.columns == ["dataset_id", "wf_step", "priority", "created_at", "id"]
    assert "assigned_to_id IS NULL" in queue.sql.replace('"', "").replace("(", "").replace(")", "")
    assert not set(m0003_entry_queue_index.DROPPED) & set(indexes)


@pytest.mark.skipif(not PG_URL, reason="CREATE INDEX CONCURRENTLY: PostgreSQL")
def test_an_interrupted_concurrent_build_is_built_again(blank_database):
    """A concurrent build that dies leaves an invalid index behind (and no record of its migration);
    the next run drops it and builds it whole."""
    database = migrated(blank_database("interrupted"))
    with database.connection_context():
        database.execute_sql("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                             (QUEUE_INDEX,))
        database.execute_sql("DELETE FROM schema_migrations WHERE version = 3")
    assert migrations.migrate(database) == [3]
    with database.connection_context():
        valid = database.execute_sql("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                                     (QUEUE_INDEX,)).fetchone()
    assert valid == (True,)


def test_0007_strips_credentials_from_stored_webhook_urls(blank_database, monkeypatch):
    """Webhook URLs stored with a user name or password (accepted until issue #20) lose them, and
    nothing else: the rest of each URL, and URLs without credentials, stay as they were."""
    database = blank_database("credentials")
    chain = migrations.MIGRATIONS
    monkeypatch.setattr(migrations, "MIGRATIONS", chain[:6])
    migrations.migrate(database)
    stored = {
        "https://user:pa%40ss@hooks.example.com:8443/in?to=a@b#x": "https://hooks.example.com:8443/in?to=a@b#x",
        "http://token@10.0.0.5/h": "http://10.0.0.5/h",
        "http://:secret@example.com": "http://example.com",
        "https://example.com/path@segment?q=@": "https://example.com/path@segment?q=@",
        "https://example.com/plain": "https://example.com/plain",
    }
    with database.bind_ctx([Project, Webhook]), database.connection_context():
        project = Project.create(name="P", organization_id=1)
        ids = {url: Webhook.create(project=project, url=url, secret="whsec_x").id for url in stored}
    monkeypatch.setattr(migrations, "MIGRATIONS", chain[:7])  # 0007 alone
    assert migrations.migrate(database) == [7]
    with database.bind_ctx([Webhook]), database.connection_context():
        rows = {row.id: row for row in Webhook.select()}
    for url, expected in stored.items():
        row = rows[ids[url]]
        assert row.url == expected
        assert row.version == (1 if expected == url else 2)


def test_0009_gives_each_stored_annotation_its_first_revision(blank_database, monkeypatch):
    """Annotations stored before revisions were kept get one ``created`` revision each: their
    values and ``updated_at``, no account; 0009 applies after whatever ran before it."""
    database = blank_database("revisions")
    chain = migrations.MIGRATIONS
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in chain if m[0] < 9])
    migrations.migrate(database)
    with database.bind_ctx([Project, Dataset, Entry, Annotation]), database.connection_context():
        project = Project.create(name="P", organization_id=1)
        dataset = Dataset.create(project=project, name="D", modality="image")
        entry = Entry.create(dataset=dataset, project=project, resource="a.png")
        notes = [Annotation.create(entry=entry, dataset=dataset, project=project, dimensions={"x": n},
                                   annotation={"label": "bird"}, metadata={"n": n}) for n in range(2)]
    monkeypatch.setattr(migrations, "MIGRATIONS", chain)
    assert migrations.migrate(database) == [9]
    with database.bind_ctx([AnnotationRevision]), database.connection_context():
        kept = {r.annotation_id: r for r in AnnotationRevision.select()}
    assert set(kept) == {n.id for n in notes}
    for n, note in enumerate(notes):
        revision = kept[note.id]
        assert (revision.number, revision.operation, revision.account_id, revision.entry_id) == (
            1, "created", None, entry.id)
        assert (revision.dimensions, revision.annotation, revision.metadata) == (
            {"x": n}, {"label": "bird"}, {"n": n})
        assert revision.at == note.updated_at


def test_0008_fills_the_event_columns_from_stored_payloads(blank_database, monkeypatch):
    """Events stored before the log keep their ids in their payload only: 0008 copies them into
    the columns the log filters and scopes on, renames ``created_at`` to ``at``, and orders the
    stored events after one another as they were (one transaction: their ids)."""
    database = blank_database("event_log")
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
    migrations.migrate(database)
    metadata = {"at": "2026-12-01T10:00:00Z", "account_id": 7, "project_id": "p1",
                "dataset_id": "d1", "entry_id": "e1"}
    with database.connection_context():
        for uid, meta in (("u1", metadata), ("u2", {**metadata, "entry_id": None, "account_id": None})):
            payload = json.dumps({"args": {"a": 1}, "resource_id": "r", "metadata": meta})
            param = database.param
            database.execute_sql(
                'INSERT INTO "event" ("uid", "name", "resource_id", "project_id", "payload", "created_at", '
                f'"redis_pending") VALUES ({", ".join([param] * 7)})',
                (uid, "dataset:entries:created", "r", "p1", payload, "2026-12-01 10:00:00", False))
    monkeypatch.undo()
    assert migrations.migrate(database)[0] == 8
    with database.bind_ctx([Event]), database.connection_context():
        first, second = Event.select().order_by(Event.txid, Event.id)
    assert (first.uid, first.dataset_id, first.entry_id, first.account_id) == ("u1", "d1", "e1", 7)
    assert (second.uid, second.dataset_id, second.entry_id, second.account_id) == ("u2", "d1", None, None)
    assert first.args == {"a": 1} and first.at.year == 2026
