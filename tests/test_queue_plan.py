"""The work queue reads one index entry (issue #13): the query ``GET /entries/next`` runs for the
head of a step's queue is answered by ``entry_queue``, filter and order both, with no sort, so a
claim costs the same whatever the dataset's size (measured in bench/queue_plans.py). A dataset's
entries page the same way in the default order and by ``-priority``, first page or after a cursor
(bench/cursor_pages.py)."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from dataset_api.auth import tokens
from dataset_api.db import db, is_postgresql, is_sqlite
from dataset_api.jsonapi import build, cursor, query
from dataset_api.models import Entry
from dataset_api.registry import RESOURCES
from dataset_api.workflow import statements
from tests import factories
from tests.conftest import CURSOR_KEY


def plan(query):
    return plan_of(*query.sql())


def plan_of(sql, params):
    if is_postgresql():  # on a table this small a sequential scan is cheaper: rule it out
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            return "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params))
    return "\n".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize("analyzed", [False, True])
def test_the_head_of_a_queue_is_read_from_its_index_without_a_sort(api, analyzed):
    if analyzed:
        dataset = fill(api, 2000, among=1)  # one large dataset: its queue index looks unselective
    else:
        dataset = factories.dataset(api, factories.project(api))
        factories.entries(api, dataset, 30)
    head = statements._head(is_postgresql(), is_sqlite())  # the claim's own text
    with db.connection_context():
        found = plan_of(head, (dataset["id"], "annotate"))
    assert "entry_queue" in found, found
    assert "Sort" not in found and "TEMP B-TREE" not in found, found


def page_reads(pairs):
    """The SELECTs ``store.page`` runs for a page of ``GET /entries?<pairs>`` (an admin's: no scope)."""
    admin = tokens.User(1, "admin@example.com", None, "admin", ())  # tests.conftest.token's caller
    q = query.parse(RESOURCES["entries"], pairs, seal=cursor.Seal.of(CURSOR_KEY.encode(), admin))
    select = build.ordered(Entry, build.filtered(Entry, Entry.select(), q.filters), q.sort)
    if q.after is None:
        return [select.limit(q.page_size + 1)]
    keys = build.position(Entry, Entry.select(), q)
    return [select.where(condition).limit(q.page_size + 1) for condition in build.after(Entry, q, keys)]


def fill(api, count, among=50):
    """A dataset of ``count`` entries (priorities 0–9) among ``among`` datasets as large, written in
    bulk and interleaved (as datasets filled side by side are), then the planner's statistics of
    them (what autovacuum leaves on PostgreSQL; on SQLite what an operator's ``ANALYZE`` or
    ``PRAGMA optimize`` would: the plans must hold with statistics and without)."""
    from dataset_api import rows
    from dataset_api.models import uuid7

    def held(i):  # one entry in progress with each of 16 annotators, as a dataset under way has
        return {"status": "in_progress", "assigned_to_id": 1000 + i} if i < 16 else {}

    project = factories.project(api)
    datasets = [factories.dataset(api, project, f"Set {n}") for n in range(among)]
    # ids in insertion order, as one insert after another has them (uuid7 is random within a
    # millisecond, so a bulk insert's were not, and the page after a cursor at the newest id of
    # its priority had from none to hundreds of newer rows: a plan that changed from run to run)
    records = [{"id": uuid7(), "dataset_id": dataset["id"], "project_id": project["id"],
                "priority": i % 10, "resource": f"img-{i}.png", **held(i)}
               for i in range(count) for dataset in datasets]
    for record, ordered in zip(records, sorted(r["id"] for r in records), strict=True):
        record["id"] = ordered
    with db.connection_context(), db.atomic():
        rows.insert(Entry, records, chunk=500)
    with db.connection_context():
        db.execute_sql("ANALYZE entry")
    return datasets[0]


@pytest.mark.parametrize(("sort", "index"), [(None, "entry_dataset_id_order"),
                                             ("-priority", "entry_dataset_priority_order")])
def test_a_page_of_a_dataset_is_read_from_its_index_without_a_sort_however_deep(api, sort, index):
    dataset = fill(api, 100)
    pairs = [("filter[dataset_id]", dataset["id"]), ("page[size]", "20"), *([("sort", sort)] if sort else [])]
    cursor = ""
    with db.connection_context():
        for _ in range(3):  # page 1, then two pages reached by cursor
            for read in page_reads([*pairs, ("page[cursor]", cursor)]):
                found = plan(read)
                assert index in found, found
                assert "Sort" not in found and "TEMP B-TREE" not in found, found
            doc = api.get("/entries?" + "&".join(f"{k}={v}" for k, v in [*pairs, ("page[cursor]", cursor)]))
            cursor = dict(parse_qsl(urlsplit(doc.json()["links"]["next"]).query))["page[cursor]"]
