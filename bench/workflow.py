"""Benchmark of the entry workflow: concurrent annotators draining one dataset with next + submit.

    python bench/workflow.py --db sqlite|postgresql [--entries 2000] [--clients 16]

Loads N entries (bulk SQL, `sample_rate` 0 so a submitted entry goes straight to done) into a
database of its own (SQLite: a temporary data folder; PostgreSQL: `bench_workflow_<random>`, created
through BENCH_PG_ADMIN_URL and dropped at the end), starts `dataset-api serve` with 2 workers on
127.0.0.1, runs one keep-alive client per annotator account calling `GET /entries/next` then
`POST /entries/{id}/submit` until next answers 404, and reports claims/s, p50/p99 of next and
submit, and the double-claim count (must be 0). Updates its own section (``workflow-bench``) of
docs/performance.md.
"""

import argparse
import asyncio
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
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import benchkit
import docsection

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JSON_API = "application/vnd.api+json"
FIRST_ACCOUNT = 1001
BATCH = 500
SUBMIT_BODY = b'{"data": {"attributes": {}}}'


# --- the database ---------------------------------------------------------------------------------

def load(url, entries, clients, seed=1):
    """Migrate, then insert a project, ``clients`` annotators and a dataset of ``entries`` entries.

    Returns (dataset id, database version)."""
    from dataset_api import migrations, rows
    from dataset_api.db import bind
    from dataset_api.models import Dataset, Entry, Project, ProjectMember, utcnow, uuid7
    from dataset_api.workflow import counters

    database = bind(url)
    migrations.migrate(database)
    rng = random.Random(seed)
    start = utcnow() - timedelta(seconds=entries)
    with database.connection_context(), database.atomic():
        project = Project.create(name="Workflow bench", organization_id=1)
        for account in range(FIRST_ACCOUNT, FIRST_ACCOUNT + clients):
            ProjectMember.create(project=project, account_id=account, email=f"a{account}@example.com",
                                 role="annotator")
        dataset = Dataset.create(project=project, name="Queue", modality="image",
                                 workflow_configuration={"type": "simple_review", "sample_rate": 0})
        for first in range(0, entries, BATCH):
            rows.insert(Entry, [
                {"id": uuid7(), "dataset_id": dataset.id, "project_id": project.id,
                 "priority": rng.randrange(10), "resource": f"s3://b/img-{i:07d}.jpg",
                 "created_at": start + timedelta(seconds=i), "updated_at": start + timedelta(seconds=i)}
                for i in range(first, min(first + BATCH, entries))], chunk=BATCH)
        counters.recount(dataset.id)
    with database.connection_context():
        if url.startswith("postgresql"):
            database.execute_sql("ANALYZE")
            version = database.execute_sql("select version()").fetchone()[0].split(" on ")[0]
        else:
            version = f"SQLite {sqlite3.sqlite_version}"
    database.close_all()
    return dataset.id, version


def outcome(url, dataset_id, claims, partial=False):
    """Return (entries not done, entries whose submitter is not their claimer, dataset counters);
    ``partial``: only some entries were to be claimed, so only the claimed ones count."""
    from dataset_api.db import bind
    from dataset_api.models import Dataset, Entry

    database = bind(url)
    with database.connection_context():
        rows = list(Entry.select(Entry.id, Entry.wf_step, Entry.submitted_by_id)
                    .where(Entry.dataset == dataset_id).tuples())
        ds = Dataset.get_by_id(dataset_id)
        count = {k: getattr(ds, k) for k in ("entries_total_count", "entries_completed_count",
                                             "entries_in_progress_count", "status")}
    database.close_all()
    if partial:
        rows = [row for row in rows if row[0] in claims]
    not_done = sum(1 for _, step, _ in rows if step != "done")
    wrong = sum(1 for entry_id, _, by in rows if claims.get(entry_id) != {by})
    return not_done, wrong, count


# --- the server -----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``dataset-api serve`` with 2 workers in a subprocess, stopped by PID."""

    def __init__(self, url, data_dir, secret, workers):
        self.port = free_port()
        self.log_path = Path(data_dir) / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL")}
        env.update(DATASET_API_DATA_DIR=str(data_dir), DATASET_API_JWT_SECRET=secret)
        if url.startswith("postgresql"):
            env["DATABASE_URL"] = url
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [Path(sys.executable).parent / "dataset-api", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(workers)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).close()
                return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.2)
        raise SystemExit(f"server not ready after {timeout} s:\n{self.log()[-3000:]}")

    def stop(self):
        """Terminate the master (it stops its workers), kill it if it lingers, then any orphan."""
        try:
            workers = [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
                       .read_text().split()]
        except OSError:
            workers = []
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in workers:
            try:
                if "dataset-api" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def problems(self):
        """Distinct ERROR / traceback lines of the log, with their counts."""
        found = defaultdict(int)
        for line in self.log().splitlines():
            if " ERROR " in line or "Traceback" in line:
                found[re.sub(r"^\S+ \S+ |[0-9a-f]{8}-[0-9a-f-]{27}", "", line)[:200]] += 1
        return [f"{n}x {line}" for line, n in found.items()]


# --- the load -------------------------------------------------------------------------------------

async def drain(port, secret, dataset_id, clients, limit, claims_wanted=None):
    """Run one next + submit loop per annotator until next answers 404 (or, with ``claims_wanted``,
    until that many entries were claimed in all); return the measurements."""
    from dataset_api.auth import tokens

    def headers(account):
        token = tokens.issue(secret, account_id=account, role="user", email=f"a{account}@example.com")
        return {"Authorization": f"Bearer {token}", "Accept": JSON_API, "Content-Type": JSON_API}

    conns = {account: benchkit.Connection(port, headers(account))
             for account in range(FIRST_ACCOUNT, FIRST_ACCOUNT + clients)}
    for conn in conns.values():  # connect before the clock starts
        await conn.request("GET", "/healthz")
    next_path = f"/entries/next?filter[dataset_id]={dataset_id}"
    claims, next_ms, submit_ms, errors = defaultdict(set), [], [], defaultdict(list)

    async def annotator(account, conn):
        for _ in range(limit):
            if claims_wanted is not None and len(next_ms) >= claims_wanted:
                return
            t0 = time.perf_counter()
            status, data = await conn.request("GET", next_path)
            if status == 404:
                return
            if status != 200:
                errors[f"next {status}"].append(data[:300].decode(errors="replace"))
                continue
            next_ms.append((time.perf_counter() - t0) * 1000)
            entry_id = json.loads(data)["data"]["id"]
            claims[entry_id].add(account)
            t0 = time.perf_counter()
            status, data = await conn.request("POST", f"/entries/{entry_id}/submit", SUBMIT_BODY)
            submit_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors[f"submit {status}"].append(data[:300].decode(errors="replace"))
        errors["no 404 from next"].append(f"account {account} stopped after {limit} rounds")

    began = time.perf_counter()
    async with asyncio.timeout(1800):
        await asyncio.gather(*(annotator(a, c) for a, c in conns.items()))
    elapsed = time.perf_counter() - began
    for conn in conns.values():
        conn.close()
    return {"elapsed": elapsed, "claims": claims, "next_ms": next_ms, "submit_ms": submit_ms,
            "errors": errors}


def percentiles(values):
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


# --- the report -----------------------------------------------------------------------------------

def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores ({cpu}); {platform.platform()}; Python {platform.python_version()}"


def table(runs):
    lines = ["| database | entries | clients | claims/s | next p50 ms | next p99 ms | submit p50 ms "
             "| submit p99 ms | double claims | lost | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        entries = f"{r['entries']:,}" + (f" (first {r['claims']:,} claims)" if r.get("claims") else "")
        lines.append(f"| {r['db']} | {entries} | {r['clients']} | {r['claims_per_s']:.0f} | "
                     f"{r['next_p50']:.1f} | {r['next_p99']:.1f} | {r['submit_p50']:.1f} | "
                     f"{r['submit_p99']:.1f} | {r['double_claims']} | {r['lost']} | {errors} |")
    return "\n".join(lines)


def section(runs):
    runs = sorted(runs.values(), key=lambda r: (r["db"] != "sqlite", r["entries"], r["clients"]))
    out = ["## Workflow", "",
           "Written by `bench/workflow.py` (each run replaces the row of its database, entry count and "
           "client count). Each client is an annotator with its own account and keep-alive HTTP/1.1 "
           "connection, calling `GET /entries/next?filter[dataset_id]=…` then `POST /entries/{id}/submit` "
           "until next answers 404, on a dataset whose `sample_rate` is 0 (a submitted entry goes straight "
           "to done). `dataset-api serve` runs 2 workers; clients, server and database share one machine. "
           "**claims/s** = entries handed out ÷ time until every client got its 404; latencies count "
           "successful calls; **double claims** = entries handed to more than one client; **lost** = "
           "entries not done afterwards, or done by someone other than their claimer.", "",
           table(runs), ""]
    out += [f"- {r['db']}, {r['entries']:,} entries, {r['date']}: {r['machine']}; {r['database']}; "
            f"dataset counters after: {r['counters']}; load average {r['load_before']} before, "
            f"{r['load_after']} after" for r in runs]
    problems = [f"- {r['db']}: server log: {p}" for r in runs for p in r["log_problems"]]
    problems += [f"- {r['db']}: {kind}: `{sample}`"
                 for r in runs for kind, sample in r["error_samples"].items()]
    out += ["", "Errors (unexpected statuses, error lines in the server log): "
            + ("none." if not problems else ""), *problems, "",
            "Re-run: `python bench/workflow.py --db sqlite|postgresql [--entries 2000] [--clients 16] "
            "[--claims N]` (`--claims`: stop after N claims, for a dataset too large to drain) "
            "(PostgreSQL: a database `bench_workflow_<random>` is created through `BENCH_PG_ADMIN_URL`, "
            "default `postgresql://postgres@127.0.0.1:5432/postgres`, and dropped afterwards).", ""]
    return out


def key(run):
    partial = f"/{run['claims']}" if run.get("claims") else ""
    return f"{run['db']}/{run['entries']}/{run['clients']}{partial}"


# --- main -----------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--entries", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--claims", type=int, help="stop after this many claims in all (a large dataset "
                   "is not drained to the end); default: drain it")
    p.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks

    tmp = tempfile.mkdtemp(prefix="dataset-api-workflow-")
    server, scratch = None, benchkit.ScratchDatabase(args.db, tmp, "bench_workflow", PG_ADMIN_URL)
    url = scratch.url
    try:
        began = time.perf_counter()
        dataset_id, version = load(url, args.entries, args.clients)
        print(f"loaded {args.entries:,} entries in {time.perf_counter() - began:.1f} s ({version})",
              flush=True)

        secret = secrets.token_hex(32)
        load_before = os.getloadavg()[0]
        server = Server(url, tmp, secret, args.workers)
        server.wait_ready()
        result = asyncio.run(drain(server.port, secret, dataset_id, args.clients, args.entries * 2 + 10,
                                   args.claims))
        load_after = os.getloadavg()[0]
        server.stop()
        not_done, wrong, counts = outcome(url, dataset_id, result["claims"], partial=bool(args.claims))

        next_p50, next_p99 = percentiles(result["next_ms"])
        submit_p50, submit_p99 = percentiles(result["submit_ms"])
        run = {"db": args.db, "entries": args.entries, "clients": args.clients, "claims": args.claims,
               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "database": version, "elapsed_s": round(result["elapsed"], 2),
               "claims_per_s": len(result["next_ms"]) / result["elapsed"],
               "next_p50": next_p50, "next_p99": next_p99, "submit_p50": submit_p50, "submit_p99": submit_p99,
               "double_claims": sum(1 for who in result["claims"].values() if len(who) > 1),
               "lost": wrong, "counters": counts,
               "errors": {k: len(v) for k, v in result["errors"].items()},
               "error_samples": {k: v[0] for k, v in result["errors"].items()},
               "log_problems": server.problems(),
               "load_before": round(load_before, 1), "load_after": round(load_after, 1)}
        print(f"\n{table([run])}\n")
        print(f"{len(result['next_ms'])} claims in {result['elapsed']:.1f} s; not done: {not_done}; "
              f"done by someone other than the claimer: {wrong}; counters: {counts}")
        for line in run["log_problems"] + [f"{k}: {v}" for k, v in run["error_samples"].items()]:
            print(line)
        if not args.no_doc:
            runs = docsection.saved("workflow-bench")
            runs[key(run)] = run
            docsection.write("workflow-bench", section(runs), runs)
            print(f"updated the workflow-bench section of {docsection.DOC}")
        bad = run["double_claims"] or run["lost"] or run["errors"]
        return 1 if bad else 0
    finally:
        if server is not None:
            server.stop()
        scratch.drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
