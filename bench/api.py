"""Benchmark of the entries endpoints against a bare Starlette app, on SQLite or PostgreSQL.

    python bench/api.py --db sqlite --entries 10000 [--duration 10]
    python bench/api.py --db postgresql --entries 1000000   # uses BENCH_DATABASE_URL

Loads a fresh database with one project, one dataset and N entries, starts ``dataset-api serve``
and bench/bare_app.py (2 workers each, on 127.0.0.1), drives each scenario with concurrent
keep-alive clients for a fixed time, and merges the results into its section (``api-bench``) of
docs/performance.md.
"""

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import benchkit
import docsection
from peewee import fn

from dataset_api import migrations
from dataset_api.auth import tokens
from dataset_api.db import bind
from dataset_api.jsonapi import build, query
from dataset_api.models import Dataset, Entry, Project, utcnow, uuid7
from dataset_api.resources.entries import ENTRIES
from dataset_api.workflow import counters

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_api")
STATUSES = ("pending",) * 6 + ("in_progress",) * 2 + ("completed",) * 2
INDEX_PARAMS = [("filter[status]", "pending"), ("filter[priority__gte]", "5"),
                ("sort", "-priority,created_at"), ("page[size]", "100")]
SCENARIOS = ("show", "bare show", "index", "create")  # create last: it adds rows
BATCH = 1000
JSON_API = "application/vnd.api+json"


# --- the database ---------------------------------------------------------------------------

def fresh(url):
    """Bind and migrate an empty database at ``url`` (PostgreSQL: its public schema is dropped)."""
    if url.startswith("postgresql"):
        if urlparse(url).path.strip("/") == "test":
            sys.exit("refusing to wipe the database 'test' (the tests run there)")
        database = bind(url)
        with database.connection_context():
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    database = bind(url)
    migrations.migrate(database)
    return database


def load(database, n, seed=1):
    """Insert one project, one dataset and ``n`` entries; return the dataset id and 5000 entry ids."""
    rng = random.Random(seed)
    fields = [Entry.id, Entry.dataset, Entry.project, Entry.priority, Entry.resource, Entry.wf_step,
              Entry.status, Entry.created_at, Entry.updated_at, Entry.version]
    start = utcnow() - timedelta(seconds=n)
    with database.connection_context(), database.atomic():
        project = Project.create(name="Bench", organization_id=1)
        dataset = Dataset.create(project=project, name="Bench images", modality="image")
        for first in range(0, n, BATCH):
            rows = []
            for i in range(first, min(first + BATCH, n)):
                at = start + timedelta(seconds=i)
                rows.append((uuid7(), dataset.id, project.id, rng.randrange(10),
                             f"s3://b/img-{i:07d}.jpg", "annotate", rng.choice(STATUSES), at, at, 1))
            Entry.insert_many(rows, fields).as_rowcount().execute()
        counters.recount(dataset.id)
    with database.connection_context():
        if engine(database) == "postgresql":
            database.execute_sql("ANALYZE")  # what autovacuum would have done by now
        ids = [e.id for e in Entry.select(Entry.id).order_by(fn.Random()).limit(5000)]
    return dataset.id, ids


def engine(database):
    return "sqlite" if "Sqlite" in type(database).__name__ else "postgresql"


def explain(database, dataset_id):
    """Return (sql, plan lines) of the filtered index query, built as the service builds it."""
    q = query.parse(ENTRIES, [("filter[dataset_id]", dataset_id), *INDEX_PARAMS])
    select = build.filtered(Entry, Entry.select(), q.filters)
    select = build.ordered(Entry, select, q.sort).limit(q.page_size + 1)
    sql, params = select.sql()
    with database.connection_context():
        if engine(database) == "sqlite":
            rows = database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            depth = {0: -1}
            plan = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                plan.append("  " * depth[node] + detail)
        else:
            plan = [r[0] for r in database.execute_sql("EXPLAIN ANALYZE " + sql, params)]
        began = time.perf_counter()
        database.execute_sql(sql, params).fetchall()
        plan.append(f"-- the query alone, one client: {(time.perf_counter() - began) * 1000:.1f} ms")
    return sql, plan


def verdict(plan):
    text = "\n".join(plan)
    index = re.search(r"USING (COVERING )?INDEX|Index (Only )?Scan", text)
    full = re.search(r"^\s*SCAN |Seq Scan", text, re.M)
    sort = re.search(r"TEMP B-TREE FOR ORDER BY|\bSort\b", text)
    return (f"uses an index: {'yes' if index else 'no'}; full table scan: {'yes' if full else 'no'}; "
            f"sorts the matching rows: {'yes' if sort else 'no'}")


# --- the servers ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, env, log_path):
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(proc, url, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    sys.exit(f"server not ready after {timeout}s: {url}")


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()  # gunicorn's master stops its workers
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the load -------------------------------------------------------------------------------

class Tally:
    """Latencies and unexpected outcomes of one scenario, added up over its rounds."""

    def __init__(self):
        self.latencies, self.errors, self.elapsed = [], {}, 0.0

    def summary(self):
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return {"rps": len(self.latencies) / self.elapsed, "p50": cuts[49] * 1000, "p99": cuts[98] * 1000,
                "requests": len(self.latencies), "errors": {k: n for k, (n, _) in self.errors.items()},
                "error_samples": {k: sample for k, (_, sample) in self.errors.items()}}


async def drive(port, request, expect, clients, seconds, headers, tally):
    """Run ``clients`` keep-alive loops for ``seconds``, adding what they see to ``tally``."""
    connections = [benchkit.Connection(port, headers) for _ in range(clients)]

    async def loop(conn, until):
        while time.perf_counter() < until:
            method, path, body = request()
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(60):
                    status, data = await conn.request(method, path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                status, data = type(exc).__name__, b""
            tally.latencies.append(time.perf_counter() - t0)
            if status != expect:
                tally.errors.setdefault(str(status), [0, data[:300].decode(errors="replace")])[0] += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop(c, began + seconds) for c in connections))
    tally.elapsed += time.perf_counter() - began
    for conn in connections:
        conn.close()


def measure(ports, scenarios, clients, duration, rounds, headers):
    """Warm each scenario up for 1 s, then run them in turn for ``rounds`` rounds (so a burst of
    other load on the machine hits all of them alike); return each scenario's summary."""
    tallies = {name: Tally() for name in scenarios}
    for step in range(rounds + 1):
        for name, (request, expect) in scenarios.items():
            seconds, tally = (1, Tally()) if step == 0 else (duration / rounds, tallies[name])
            asyncio.run(drive(ports[name], request, expect, clients, seconds, headers, tally))
    return {name: tally.summary() for name, tally in tallies.items()}


def scenario_requests(dataset_id, ids):
    index_path = "/entries?" + "&".join(f"{k}={v}" for k, v in
                                        [("filter[dataset_id]", dataset_id), *INDEX_PARAMS])
    serial = itertools.count()
    run = secrets.token_hex(4)

    def show():
        return "GET", f"/entries/{random.choice(ids)}", b""

    def create():
        attrs = {"dataset_id": dataset_id, "resource": f"s3://b/new-{run}-{next(serial)}.jpg",
                 "priority": random.randrange(10)}
        return "POST", "/entries", json.dumps({"data": {"type": "dataset:entries",
                                                        "attributes": attrs}}).encode()

    return {"show": (show, 200), "bare show": (show, 200),
            "index": (lambda: ("GET", index_path, b""), 200), "create": (create, 201)}


# --- the report -----------------------------------------------------------------------------

def machine(database):
    with database.connection_context():
        version = (database.execute_sql("select version()").fetchone()[0].split(" on ")[0]
                   if engine(database) == "postgresql" else f"SQLite {sqlite3.sqlite_version}")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024**2
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "dataset_api", "openapi.yaml"):
        commit += " with uncommitted changes"
    return {"cpu": f"{os.cpu_count()} cores ({cpu}), {mem} GB RAM", "os": platform.platform(),
            "commit": commit, "python": platform.python_version(), "database": version}


def table(runs):
    lines = ["| database | entries | scenario | req/s | p50 ms | p99 ms | requests | errors |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for run in runs:
        for name in SCENARIOS:
            s = run["scenarios"][name]
            errors = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "0"
            lines.append(f"| {run['db']} | {run['entries']:,} | {name} | {s['rps']:.0f} | "
                         f"{s['p50']:.1f} | {s['p99']:.1f} | {s['requests']:,} | {errors} |")
    return "\n".join(lines)


def goals(runs):
    lines = ["| database | entries | show: ours ÷ bare (req/s) | goal ≥ 0.5 |", "|---|---:|---:|---|"]
    for run in runs:
        ratio = run["scenarios"]["show"]["rps"] / run["scenarios"]["bare show"]["rps"]
        met = "met" if ratio >= 0.5 else "MISSED"
        lines.append(f"| {run['db']} | {run['entries']:,} | {ratio:.2f} | {met} |")
    lines += ["", "| database | index p50 at 1,000,000 ÷ at 10,000 | goal ≤ 2 |", "|---|---:|---|"]
    for db in ("sqlite", "postgresql"):
        by_size = {r["entries"]: r["scenarios"]["index"]["p50"] for r in runs if r["db"] == db}
        if 10_000 in by_size and 1_000_000 in by_size:
            ratio = by_size[1_000_000] / by_size[10_000]
            lines.append(f"| {db} | {by_size[1_000_000]:.1f} ms ÷ {by_size[10_000]:.1f} ms = {ratio:.1f} | "
                         f"{'met' if ratio <= 2 else 'MISSED'} |")
    return "\n".join(lines)


def render(runs):
    runs = sorted(runs.values(), key=lambda r: (r["db"] != "sqlite", r["entries"]))
    out = ["## Entries endpoints: show, filtered index, create", "",
           "Written by `bench/api.py` (each run replaces its own database and size; the others stay).", "",
           "### Set-up", ""]
    for run in runs:
        m = run["machine"]
        out.append(f"- {run['db']} {run['entries']:,} entries, {run['date']}, service at {m['commit']}: "
                   f"{m['cpu']}; {m['os']}; "
                   f"Python {m['python']}; {m['database']}; loaded in {run['load_s']:.0f} s; "
                   f"{run['clients']} clients, {run['duration']:g} s per scenario in {run['rounds']} rounds; "
                   f"load average {run['loadavg'][0]:.1f} before, {run['loadavg'][1]:.1f} after")
    out += ["", "The load generator runs on the same machine as both servers and the database (2 cores "
            "for everything): one asyncio process with keep-alive HTTP/1.1 connections, one per client. "
            "Each scenario is warmed up for 1 s, then the scenarios take turns, round by round. Both "
            "servers run gunicorn with 2 uvicorn workers; the service logs one access line per request "
            "(its default). The load average before the run shows other work on the machine.", "",
            "- **show**: `GET /entries/{random existing id}`",
            "- **bare show**: the same lookup in `bench/bare_app.py` (Starlette + Peewee, no JSON:API, "
            "no auth)",
            "- **index**: `GET /entries?filter[dataset_id]=…&filter[status]=pending&filter[priority__gte]=5"
            "&sort=-priority,created_at&page[size]=100`",
            "- **create**: `POST /entries` with a new resource", "",
            "### Results", "", table(runs), "", "### Against the goals", "", goals(runs), "",
            "### Query plan of the filtered index", ""]
    for run in runs:
        out += [f"**{run['db']}, {run['entries']:,} entries** — {verdict(run['plan'])}", "", "```",
                *run["plan"], "```", ""]
    if any("sorts the matching rows: yes" in verdict(r["plan"]) for r in runs):
        out += ["The plans read and sort many more rows than the page holds, more as the table grows. An "
                "index that serves both the filter and the order, `(dataset_id, status, priority DESC, "
                "created_at, id)`, would let both databases stop after 101 rows.", ""]
    if runs:
        out += ["SQL (from the service's own query builder):", "", "```sql", runs[-1]["sql"], "```", ""]
    problems = [f"- {r['db']} {r['entries']:,}, {name}: {n}x {status} `{s['error_samples'][status]}`"
                for r in runs for name, s in r["scenarios"].items() for status, n in s["errors"].items()]
    problems += [f"- {r['db']} {r['entries']:,}, server log: {p}" for r in runs for p in r["log_problems"]]
    out += ["### Errors (unexpected statuses, and error lines in the server logs)", "",
            *(problems or ["None."]), "",
            "### Re-running", "", "```sh", ". .venv/bin/activate",
            "psql -h 127.0.0.1 -U postgres -c 'create database bench_api'  # once",
            *(f"python bench/api.py --db {db} --entries {n} --duration 10"
              for db in ("sqlite", "postgresql") for n in (10_000, 1_000_000)),
            "```", "", "PostgreSQL: `BENCH_DATABASE_URL` (default "
            "`postgresql://postgres@127.0.0.1:5432/bench_api`); that database is wiped.", ""]
    return out


# --- main -----------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--entries", type=int, required=True)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5, help="the duration is split over this many rounds")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks

    idle = os.getloadavg()[0]  # the machine may be shared: other load skews the numbers
    tmp = tempfile.mkdtemp(prefix="dataset-api-bench-")
    procs = []
    try:
        url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else PG_URL
        database = fresh(url)
        began = time.perf_counter()
        dataset_id, ids = load(database, args.entries)
        load_s = time.perf_counter() - began
        print(f"loaded {args.entries:,} entries in {load_s:.0f} s", flush=True)
        sql, plan = explain(database, dataset_id)
        print("\n".join(plan), "\n" + verdict(plan), flush=True)
        info = machine(database)
        database.close_all()

        secret = secrets.token_hex(32)
        env = dict(os.environ, DATABASE_URL=url, DATASET_API_DATA_DIR=tmp, DATASET_API_JWT_SECRET=secret)
        ours, bare = free_port(), free_port()
        logs = [f"{tmp}/service.log", f"{tmp}/bare.log"]
        procs.append(start([BIN / "dataset-api", "serve", "--host", "127.0.0.1", "--port", str(ours),
                            "--workers", "2"], env, logs[0]))
        procs.append(start([BIN / "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                            "--no-control-socket", "--bind", f"127.0.0.1:{bare}", "bench.bare_app:app"],
                           env, logs[1]))
        wait_ready(procs[0], f"http://127.0.0.1:{ours}/healthz", logs[0])
        wait_ready(procs[1], f"http://127.0.0.1:{bare}/entries/{ids[0]}", logs[1])

        token = tokens.issue(secret, account_id=1, email="bench@example.com", role="admin")
        headers = {"Authorization": f"Bearer {token}", "Accept": JSON_API, "Content-Type": JSON_API}
        ports = {name: bare if name == "bare show" else ours for name in SCENARIOS}
        scenarios = measure(ports, scenario_requests(dataset_id, ids), args.clients, args.duration,
                            args.rounds, headers)
        stop(procs)

        date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        run = {"db": args.db, "entries": args.entries, "date": date, "duration": args.duration,
               "clients": args.clients, "rounds": args.rounds, "load_s": load_s, "machine": info,
               "loadavg": [idle, os.getloadavg()[0]],
               "scenarios": scenarios, "sql": sql, "plan": plan, "log_problems": benchkit.log_problems(logs)}
        runs = docsection.saved("api-bench")
        runs[f"{args.db}/{args.entries}"] = run
        docsection.write("api-bench", render(runs), runs)
        print("\n" + table([run]) + "\n\n" + "\n".join(run["log_problems"])
              + f"\nupdated the api-bench section of {docsection.DOC}")
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
