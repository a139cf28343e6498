"""Deep pages by cursor (issue #13): a page far into a large dataset, reached by cursor, against page 1.

    python bench/cursor_pages.py --db sqlite|postgresql [--entries 1000000] [--size 100]
        [--depth 10000] [--requests 200] [--number-requests 20] [--no-doc]

Loads one project, one dataset and ``--entries`` entries (priority 0–9 at random, seeded;
``created_at`` one second apart; pending at ``annotate``) into a database of its own (SQLite: the
server's default file in a temporary data folder; PostgreSQL: ``bench_cursor_<random>`` through
BENCH_PG_ADMIN_URL, default ``postgresql://postgres@127.0.0.1:5432/postgres``, dropped at the end).
For each sort, the default one (no ``sort``) and ``-priority``, every request is
``GET /entries?filter[dataset_id]=…&page[size]=…[&sort=-priority]`` and names one page:

- page 1 by cursor (``page[cursor]=``) and by number (``page[number]=1``);
- the page at ``--depth`` by cursor. Its cursor is minted in process, as the server makes the next
  link of the page before it (``query.next_cursor`` on the row at position (depth-1)×size - 1, read
  through ``store.page`` by OFFSET); the page must then start with the row at (depth-1)×size;
- the page at ``--depth`` by number (OFFSET), for contrast: ``--number-requests`` requests alone.

Page 1 (both ways) and the deep cursor page are measured in interleaved rounds (``--requests`` of
each, after a warm-up), so that drift from the machine's other load hits them alike; one client,
one keep-alive connection, ``dataset-api serve --workers 2``, an admin token. The goal: the deep
cursor page's p50 at most 1.2× page 1's (by cursor). The plan of the deep cursor page's SELECT (as
``store.page`` runs it in process: EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on
PostgreSQL) is recorded too. Updates its section (``cursor-bench``) of docs/performance.md, keeping
the runs of other databases, sizes and sorts, unless ``--no-doc``.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import benchkit
import docsection
from connexion.context import _context

from dataset_api import migrations, resources, rows, spec, store
from dataset_api.auth import tokens
from dataset_api.config import Config
from dataset_api.db import bind
from dataset_api.jsonapi import cursor, query
from dataset_api.models import Dataset, Entry, Project, utcnow
from dataset_api.resources.entries import ENTRIES
from dataset_api.workflow import counters

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JSON_API = "application/vnd.api+json"
SECTION = "cursor-bench"
GOAL = 1.2  # the deep cursor page's p50 over page 1's
SORTS = {"default": None, "-priority": "-priority"}  # label -> the sort parameter (None: none sent)
CURSOR = "page[cursor]"
WARMUP = 10  # rounds before the timed ones (the deep page by number: NUMBER_WARMUP requests)
NUMBER_WARMUP = 2
STATEMENT_RUNS = 20  # the deep and first page's SELECT alone, in process: median of this many
TRANSACTION, CHUNK = 50_000, 1000  # entries a load transaction writes; rows an INSERT statement holds
ADMIN = tokens.User(1, "bench@example.com", None, "admin", ())


# --- the database ---------------------------------------------------------------------------------

def load(database, url, entries, seed=1):
    """Migrate, then insert one project, one dataset and ``entries`` entries, TRANSACTION a
    transaction, through the project's multi-row INSERT (``rows.insert``). Returns the dataset id."""
    migrations.migrate(database)
    rng = random.Random(seed)
    start = utcnow() - timedelta(seconds=entries)
    began = time.perf_counter()
    with database.connection_context():
        with database.atomic():
            project = Project.create(name="Cursor bench", organization_id=1)
            dataset = Dataset.create(project=project, name="Deep", modality="image")
        for first in range(0, entries, TRANSACTION):
            with database.atomic():
                rows.insert(Entry, [entry(dataset.id, project.id, i, start, rng)
                                    for i in range(first, min(first + TRANSACTION, entries))], chunk=CHUNK)
            done = min(first + TRANSACTION, entries)
            seconds = time.perf_counter() - began
            print(f"  {done:,} entries in {seconds:.1f} s ({done / seconds:,.0f}/s)", flush=True)
        with database.atomic():
            counters.recount(dataset.id)
        settle(database, url)
    return dataset.id


def entry(dataset_id, project_id, i, start, rng):
    """The ``i``-th entry's row for ``rows.insert`` (foreign keys by column; the rest defaults)."""
    at = start + timedelta(seconds=i)
    return {"dataset_id": dataset_id, "project_id": project_id, "priority": rng.randrange(10),
            "resource": f"s3://bench/img-{i:08d}.jpg", "wf_step": "annotate", "status": "pending",
            "created_at": at, "updated_at": at}


def settle(database, url):
    """Leave the database as a server running for a while would have it. PostgreSQL: statistics
    and the visibility map (autovacuum's work after a bulk insert; index-only scans need it).
    SQLite: the WAL checkpointed into the file (the app never runs ANALYZE there: neither do we)."""
    if url.startswith("postgresql"):
        database.execute_sql("VACUUM ANALYZE entry")
    else:
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def admin_request(database):
    """In process, what the benchmark's admin requests see: Connexion's request context holding an
    admin (``store.scope``: everything), on a connection of ``database``. Yields the list of the
    (sql, params) run meanwhile."""
    seen = []
    real = database.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        seen.append((sql, params))
        return real(sql, params, *args, **kwargs)

    token = _context.set({"token_info": {"user": ADMIN}})
    database.execute_sql = execute_sql
    try:
        with database.connection_context():
            yield seen
    finally:
        del database.execute_sql
        _context.reset(token)


def row_at(database, base, position):
    """The row at ``position`` (0-based) of the index ``base`` names, in the server's order: a page
    of one row by number (OFFSET position), through ``store.page``."""
    with admin_request(database):
        found, _, _ = store.page(ENTRIES, query.parse(ENTRIES, [*base, ("page[size]", "1"),
                                                                ("page[number]", str(position + 1))]))
    return found[0]


def mint(seal, base, size, row):
    """The cursor of the page after ``row``: what the server puts in the next link of a cursor
    page of ``base`` ending with ``row``, sealed as the server seals the admin's (``seal``)."""
    q = query.parse(ENTRIES, [*base, ("page[size]", str(size)), (CURSOR, "")], seal=seal)
    return query.next_cursor(ENTRIES, q, [row], True)


def statements(database, pairs):
    """The SELECTs ``store.page`` runs for the index query ``pairs``: [(sql, params)]. A page after
    a cursor may take more than one (``build.after``: the rows tied with the cursor on the leading
    terms first, then those beyond, until the page is full)."""
    with admin_request(database) as seen:
        store.page(ENTRIES, query.parse(ENTRIES, pairs))
    return seen


def explain(database, sql, params):
    """The plan of ``sql``: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN (as a
    tree) on SQLite."""
    with database.connection_context():
        if database.__class__.__name__.startswith("PooledPostgres"):
            return [r[0] for r in database.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)]
        depth, lines = {0: -1}, []
        for node, parent, _, detail in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params):
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return lines


def statement_ms(database, reads):
    """Median milliseconds of the ``reads`` [(sql, params)] run and fetched in process (the
    database's part of a page)."""
    with database.connection_context():
        times = []
        for _ in range(STATEMENT_RUNS):
            began = time.perf_counter()
            for sql, params in reads:
                database.execute_sql(sql, params).fetchall()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def shape(sql):
    """``sql`` without its column list, which names every column of entry."""
    return re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", sql)


def prepare(database, seal, dataset_id, label, size, depth):
    """For one sort: the query pairs of each measured page (the deep cursor minted and its rows
    worked out in process), the ids the deep page must start with, and its SELECT's plan."""
    base = [("filter[dataset_id]", dataset_id), *([("sort", SORTS[label])] if SORTS[label] else [])]
    first = (depth - 1) * size
    sort = query.parse(ENTRIES, base).sort
    token = mint(seal, base, size, row_at(database, base, first - 1))
    sized = [*base, ("page[size]", str(size))]
    pages = {"page1_cursor": [*sized, (CURSOR, "")], "page1_number": [*sized, ("page[number]", "1")],
             "deep_cursor": [*sized, (CURSOR, token)], "deep_number": [*sized, ("page[number]", str(depth))]}
    deep = statements(database, pages["deep_cursor"])
    return {
        "pages": pages,
        "deep_first_id": str(row_at(database, base, first).id),
        "terms": [f"-{name}" if desc else name for name, desc in query.order(sort)],
        "reads": [{"sql": shape(sql), "params": [str(p) for p in params],
                   "plan": explain(database, sql, params)} for sql, params in deep],
        "statement_ms": {"page1_cursor": statement_ms(database, statements(database, pages["page1_cursor"])),
                         "deep_cursor": statement_ms(database, deep)},
    }


# --- the requests ---------------------------------------------------------------------------------

def path(pairs):
    return "/entries?" + urlencode(pairs, safe="[]")


async def timed(conn, pairs):
    """Milliseconds of one GET of the index ``pairs`` names; any status but 200 stops the run."""
    began = time.perf_counter()
    status, body = await conn.request("GET", path(pairs))
    ms = (time.perf_counter() - began) * 1000
    if status != 200:
        sys.exit(f"GET {path(pairs)}: {status} {body[:500]!r}")
    return ms


async def ids(conn, pairs):
    status, body = await conn.request("GET", path(pairs))
    if status != 200:
        sys.exit(f"GET {path(pairs)}: {status} {body[:500]!r}")
    return [obj["id"] for obj in json.loads(body)["data"]]


async def check(conn, prepared, size, by_number):
    """Fail loudly unless the pages hold what they should: ``size`` rows each, the deep cursor page
    starting with the row at (depth-1)×size, and (``by_number``) the same rows both ways."""
    pages = {name: await ids(conn, pairs) for name, pairs in prepared["pages"].items()
             if by_number or name != "deep_number"}
    wrong = [f"{name}: {len(got)} rows" for name, got in pages.items() if len(got) != size]
    if pages["deep_cursor"][:1] != [prepared["deep_first_id"]]:
        wrong.append(f"deep_cursor starts with {pages['deep_cursor'][:1]}, not {prepared['deep_first_id']}")
    for kind in ("page1", "deep") if by_number else ("page1",):
        if pages[f"{kind}_cursor"] != pages[f"{kind}_number"]:
            wrong.append(f"{kind}: other rows by cursor than by number")
    if wrong:
        sys.exit("wrong pages: " + "; ".join(wrong))


async def rounds(conn, pages, count):
    """{name: [ms]} of ``count`` rounds, each one request of every page in turn."""
    times = {name: [] for name in pages}
    for _ in range(count):
        for name, pairs in pages.items():
            times[name].append(await timed(conn, pairs))
    return times


def summary(ms):
    ordered = sorted(ms)
    return {"p50_ms": statistics.median(ordered), "p99_ms": ordered[int(len(ordered) * 0.99)], "n": len(ms)}


async def measure(port, token, prepared, size, requests, number_requests):
    """Check the pages, then time them: {page name: summary}."""
    conn = benchkit.Connection(port, {"Authorization": f"Bearer {token}", "Accept": JSON_API})
    try:
        await check(conn, prepared, size, number_requests > 0)
        fast = {name: pairs for name, pairs in prepared["pages"].items() if name != "deep_number"}
        await rounds(conn, fast, WARMUP)
        times = await rounds(conn, fast, requests)
        if number_requests:
            deep = {"deep_number": prepared["pages"]["deep_number"]}
            await rounds(conn, deep, NUMBER_WARMUP)
            times.update(await rounds(conn, deep, number_requests))
    finally:
        conn.close()
    return {name: summary(ms) for name, ms in times.items()}


# --- a run ----------------------------------------------------------------------------------------

def run(args, depth):
    """Load, prepare each sort in process, then measure them over HTTP; one result per sort."""
    tmp = tempfile.mkdtemp(prefix="dataset-api-cursorbench-")
    server, scratch = None, benchkit.ScratchDatabase(args.db, tmp, "bench_cursor", PG_ADMIN_URL)
    url = scratch.url
    try:
        print(f"loading {args.entries:,} entries ({args.db})", flush=True)
        database = bind(url)
        began = time.perf_counter()
        dataset_id = load(database, url, args.entries)
        load_seconds = time.perf_counter() - began
        print(f"loaded {args.entries:,} entries in {load_seconds:.1f} s", flush=True)
        # the server's key of page[cursor]: the data folder's, made here first (the server reads it)
        seal = cursor.Seal.of(tokens.cursor_key(Config(data_dir=tmp)), ADMIN)
        prepared = {label: prepare(database, seal, dataset_id, label, args.size, depth) for label in SORTS}
        database.close_all()
        server = benchkit.Server(tmp, scratch.server_url).start()
        load_before = os.getloadavg()[0]
        measured = {label: asyncio.run(measure(server.port, server.token(), p, args.size, args.requests,
                                               args.number_requests))
                    for label, p in prepared.items()}
        load_after = os.getloadavg()[0]
        server.stop()
        common = {"db": args.db, "entries": args.entries, "size": args.size, "depth": depth,
                  "date": datetime.now(UTC).strftime("%Y-%m-%d"), "load_seconds": load_seconds,
                  "machine": benchkit.machine(scratch.server_url), "loadavg": [load_before, load_after],
                  "log_problems": benchkit.log_problems([server.log_path])}
        return [result(common, label, prepared[label], measured[label]) for label in SORTS]
    finally:
        if server is not None:
            server.stop()
        scratch.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def result(common, label, prepared, pages):
    ratio = pages["deep_cursor"]["p50_ms"] / pages["page1_cursor"]["p50_ms"]
    kept = {k: prepared[k] for k in ("terms", "reads", "statement_ms")}
    return {**common, "sort": label, **kept, "pages": pages, "ratio": ratio, "met": ratio <= GOAL}


def key(r):
    return f"{r['db']}/{r['entries']}/{r['sort']}"


# --- the report -----------------------------------------------------------------------------------

def cell(pages, name, p99=True):
    if name not in pages:
        return "–"
    p = pages[name]
    return f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f}" if p99 else f"{p['p50_ms']:.1f}"


def table(ordered):
    out = ["| database | entries | sort | page 1 by cursor p50 / p99 ms | page 1 by number p50 ms | depth "
           "| deep page by cursor p50 / p99 ms | deep by number p50 ms | ratio | goal met |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in ordered:
        p = r["pages"]
        out.append(f"| {r['db']} | {r['entries']:,} | {r['sort']} (`{','.join(r['terms'])}`) | "
                   f"{cell(p, 'page1_cursor')} | {cell(p, 'page1_number', False)} | {r['depth']:,} | "
                   f"{cell(p, 'deep_cursor')} | {cell(p, 'deep_number', False)} | {r['ratio']:.2f} | "
                   f"{'yes' if r['met'] else 'no'} (≤ {GOAL}) |")
    return out


def plans(ordered):
    out = []
    for r in ordered:
        ms = r["statement_ms"]
        reads = r["reads"]
        out += [f"*{r['db']}, {r['entries']:,} entries, sort {r['sort']}, page {r['depth']:,}* (its "
                f"{len(reads)} SELECT{'s' if len(reads) > 1 else ''} alone, in process, median of "
                f"{STATEMENT_RUNS}: {ms['deep_cursor']:.2f} ms; page 1's {ms['page1_cursor']:.2f} ms)", "",
                "```"]
        for read in reads:
            out += [read["sql"], f"-- {read['params']}", *read["plan"]]
        out += ["```", ""]
    return out


def section(runs):
    ordered = sorted(runs.values(), key=lambda r: (r["db"] != "sqlite", r["entries"], r["sort"] != "default"))
    out = ["## Deep pages by cursor (issue #13)", "",
           "Written by `bench/cursor_pages.py` (each run replaces the rows of its database, entry count "
           "and sort). One dataset of N entries (priority 0–9 at random, `created_at` one second apart), "
           "`dataset-api serve --workers 2` on 127.0.0.1, one keep-alive HTTP/1.1 client with an admin "
           "token; every request is `GET /entries?filter[dataset_id]=…&page[size]=…` (and `sort`). "
           "Page 1 by cursor (`page[cursor]=`), page 1 by number and the deep page by cursor (its cursor "
           "minted in process as the server mints the next link of the page before it; the rows checked "
           "against the same page by OFFSET) are measured in interleaved rounds; the deep page by number "
           "(OFFSET) alone, with fewer requests. **ratio** = deep page by cursor p50 ÷ page 1 by cursor "
           f"p50; the goal: ≤ {GOAL}.", "", *table(ordered), "",
           "The deep cursor page's SELECTs as `store.page` runs them, and their plans (SQLite: "
           "`EXPLAIN QUERY PLAN`, on a database never analyzed, as the app leaves it; PostgreSQL: "
           "`EXPLAIN (ANALYZE, BUFFERS)` after `VACUUM ANALYZE entry`):", "", *plans(ordered)]
    machines = list({(r["db"], r["entries"]): r for r in ordered}.values())
    return out + benchkit.footer(
        machines, "server logs",
        "Re-run: `python bench/cursor_pages.py --db sqlite` and `python bench/cursor_pages.py --db "
        "postgresql` (1,000,000 entries, `page[size]=100`, depth 10,000; PostgreSQL: a database "
        "`bench_cursor_<random>` is created through `BENCH_PG_ADMIN_URL` and dropped afterwards).")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--size", type=int, default=100, help="page[size]")
    p.add_argument("--depth", type=int, default=10_000,
                   help="the deep page's number (capped: depth × size ≤ entries)")
    p.add_argument("--requests", type=int, default=200, help="timed requests of each fast page")
    p.add_argument("--number-requests", type=int, default=20,
                   help="timed requests of the deep page by number (OFFSET); 0: not measured")
    p.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = p.parse_args()
    depth = min(args.depth, args.entries // args.size)
    if depth < 2 or args.requests < 1 or not 1 <= args.size <= query.MAX_PAGE_SIZE:
        p.error("need depth ≥ 2 (entries ≥ 2 × size), a page size the API takes and requests ≥ 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks
    resources.load((), spec.document())  # the registry, checked as create_app checks it
    results = run(args, depth)
    print("", *table(results), "", *plans(results), sep="\n")
    print("Error lines in the server log:", *results[0]["log_problems"] or ["none."], sep="\n")
    if not args.no_doc:
        runs = docsection.saved(SECTION)
        runs.update({key(r): r for r in results})
        docsection.write(SECTION, section(runs), runs)
        print(f"updated the {SECTION} section of {docsection.DOC}")


if __name__ == "__main__":
    main()
