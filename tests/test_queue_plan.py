"""The work queue reads one index entry (issue #13): the query ``GET /entries/next`` runs for the
head of a step's queue is answered by ``entry_queue``, filter and order both, with no sort, so a
claim costs the same whatever the dataset's size (measured in bench/queue_plans.py)."""

from dataset_api.db import db, is_postgresql
from dataset_api.models import Entry
from tests import factories


def plan(query):
    sql, params = query.sql()
    if is_postgresql():  # on a table this small a sequential scan is cheaper: rule it out
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            return "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params))
    return "\n".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))


def test_the_head_of_a_queue_is_read_from_its_index_without_a_sort(api):
    dataset = factories.dataset(api, factories.project(api))
    factories.entries(api, dataset, 30)
    head = Entry.queue_order(Entry.waiting(dataset["id"], ["annotate"])).limit(1)
    with db.connection_context():
        found = plan(head)
    assert "entry_queue" in found, found
    assert "Sort" not in found and "TEMP B-TREE" not in found, found
