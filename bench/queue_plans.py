"""The work queue's queries at growing dataset sizes: their plans and their cost, in process.

    python bench/queue_plans.py --db sqlite|postgresql [--sizes 10000,100000,1000000]

For each size, loads one dataset into a database of its own (SQLite: a temporary file; PostgreSQL:
``bench_queue_<random>`` through BENCH_PG_ADMIN_URL, dropped at the end) with the entries of a
dataset well under way: 60 % done, 10 % waiting for review, one in progress with each of 16
annotators, the rest waiting to be annotated, priorities 0–9. Then runs, with the SQL ``GET /entries/next``
runs (the texts of ``dataset_api.workflow.statements``):

- *queue head*: the best unassigned entry at `annotate` (an annotator's claim; a project owner's
  claim runs it once per step, `annotate` and `review`, and takes the better head);
- *own*: the caller's in-progress entry in the dataset (the first look of every `next`);

and reports each one's median time over 300 runs and its plan (PostgreSQL: ``EXPLAIN (ANALYZE,
BUFFERS)``; SQLite: ``EXPLAIN QUERY PLAN``). Updates its section (``queue-plans``) of
docs/performance.md.
"""

import argparse
import os
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import benchkit
import docsection

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ANNOTATORS = range(1001, 1017)
BATCH = 5000
RUNS = 300


def load(url, size, seed=1):
    """Migrate and load one dataset of ``size`` entries; return (dataset id, database version)."""
    from dataset_api import migrations
    from dataset_api.db import bind
    from dataset_api.models import Dataset, Entry, Project, utcnow, uuid7
    from dataset_api.workflow import counters

    database = bind(url)
    migrations.migrate(database)
    rng = random.Random(seed)
    fields = [Entry.id, Entry.dataset, Entry.project, Entry.priority, Entry.resource, Entry.wf_step,
              Entry.status, Entry.assigned_to_id, Entry.created_at, Entry.updated_at, Entry.version]
    start = utcnow() - timedelta(seconds=size)

    def state(i, draw):
        if i < len(ANNOTATORS):
            return "annotate", "in_progress", ANNOTATORS[i]
        if draw < 0.60:
            return "done", "completed", None
        if draw < 0.70:
            return "review", "pending", None
        return "annotate", "pending", None

    with database.connection_context(), database.atomic():
        project = Project.create(name="Queue plans", organization_id=1)
        dataset = Dataset.create(project=project, name="Queue", modality="image")
        for first in range(0, size, BATCH):
            rows = []
            for i in range(first, min(first + BATCH, size)):
                at = start + timedelta(seconds=i)
                rows.append((uuid7(), dataset.id, project.id, rng.randrange(10), f"s3://b/{i:08d}.jpg",
                             *state(i, rng.random()), at, at, 1))
            Entry.insert_many(rows, fields).as_rowcount().execute()
        counters.recount(dataset.id)
    with database.connection_context():
        if url.startswith("postgresql"):
            database.execute_sql("VACUUM ANALYZE entry")
            version = database.execute_sql("select version()").fetchone()[0].split(" on ")[0]
        else:
            database.execute_sql("ANALYZE")
            version = f"SQLite {sqlite3.sqlite_version}"
    return database, dataset.id, version


def queries(dataset_id):
    """The two queries of ``next`` that read the queue, as it runs them (name, (sql, params)): the
    texts of ``dataset_api.workflow.statements``."""
    from dataset_api.db import is_postgresql, is_sqlite
    from dataset_api.workflow import statements

    kind = (is_postgresql(), is_sqlite())
    return [
        ("queue head", (statements._head(*kind), (str(dataset_id), "annotate"))),
        ("own", (statements._own(1, kind[1]), (str(dataset_id), ANNOTATORS[0], "in_progress", "annotate"))),
    ]


def measure(database, query):
    """(median ms over RUNS runs, plan lines) of ``query``: (sql, params)."""
    sql, params = query
    with database.connection_context():
        times = []
        for _ in range(RUNS):
            began = time.perf_counter()
            database.execute_sql(sql, params).fetchall()
            times.append((time.perf_counter() - began) * 1000)
        if database.__class__.__name__.startswith("Pooled" + "Postgres"):
            plan = [row[0] for row in database.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)]
        else:
            plan = [row[-1] for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]
    return statistics.median(times), plan


def report(runs):
    lines = ["## The work queue's queries by dataset size", "",
             "`python bench/queue_plans.py --db sqlite|postgresql --sizes …`: one dataset under way",
             "(60 % done, 10 % waiting for review, one entry in progress with each of 16 annotators, the",
             "rest waiting to be annotated), the queries of `GET /entries/next` run in process, median of",
             "300 runs. The claim itself (the `UPDATE`, the counters, HTTP) is measured by the workflow",
             "benchmark below.", ""]
    for db in ("sqlite", "postgresql"):
        mine = [r for r in runs if r["db"] == db]
        if not mine:
            continue
        sizes = sorted({r["size"] for r in mine})
        lines += [f"### {mine[-1]['database']} ({mine[-1]['date']}, {mine[-1]['machine']})", "",
                  "| query | " + " | ".join(f"{s:,} entries" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for name in ("queue head", "own"):
            cells = [next(f"{r['ms'][name]:.3f} ms" for r in mine if r["size"] == s) for s in sizes]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        largest = next(r for r in mine if r["size"] == sizes[-1])
        lines += ["", f"Plans at {sizes[-1]:,} entries:", ""]
        for name, plan in largest["plans"].items():
            lines += [f"*{name}*", "", "```", *plan, "```", ""]
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = p.parse_args()
    runs = [r for r in docsection.saved("queue-plans").get("runs", []) if r["db"] != args.db]
    for size in (int(s) for s in args.sizes.split(",")):
        tmp, pg_name = tempfile.mkdtemp(prefix="dataset-api-queue-"), None
        try:
            if args.db == "postgresql":
                pg_name = f"bench_queue_{secrets.token_hex(4)}"
                url = benchkit.create_pg_database(PG_ADMIN_URL, pg_name)
            else:
                url = f"sqlite:///{tmp}/queue.db"
            database, dataset_id, version = load(url, size)
            run = {"db": args.db, "size": size, "database": version, "ms": {}, "plans": {},
                   "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   "machine": f"{os.cpu_count()} cores"}
            for name, query in queries(dataset_id):
                run["ms"][name], run["plans"][name] = measure(database, query)
                print(f"{args.db} {size:>9,} {name:<17} {run['ms'][name]:8.3f} ms", flush=True)
            database.close_all()
            runs.append(run)
        finally:
            if pg_name:
                benchkit.drop_pg_database(PG_ADMIN_URL, pg_name)
            for path in Path(tmp).glob("*"):
                path.unlink()
            os.rmdir(tmp)
    if not args.no_doc:
        docsection.write("queue-plans", report(runs), {"runs": runs})


if __name__ == "__main__":
    main()
