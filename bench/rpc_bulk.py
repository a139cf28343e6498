"""Bulk annotation writes: JSON:API POST vs single JSON-RPC calls vs JSON-RPC batches.

    python bench/rpc_bulk.py --db sqlite [--n 2000]
    python bench/rpc_bulk.py --db postgresql [--n 2000]

Starts ``dataset-api serve --workers 2`` on 127.0.0.1 with its own data folder and JWT secret (on
PostgreSQL: a database ``rpcbench_<random>`` created for the run and dropped after it; the admin
connection is ``BENCH_PG_ADMIN_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
creates a project, a dataset and an entry, then creates N annotations three ways with one sequential
keep-alive client:

  (a) JSON:API ``POST /annotations``, one annotation per request;
  (b) JSON-RPC ``create``, one call per request to ``POST /annotations/_rpc``;
  (c) JSON-RPC batches of ``--batch`` (100) ``create`` calls.

Reports annotations created per second and the ratio (c)/(a) (goal >= 20), and writes the section
between ``<!-- rpc-bench -->`` and ``<!-- /rpc-bench -->`` of docs/performance.md (results of the
other database are kept; nothing else in the file is touched).
"""

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import benchkit
import docsection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataset_api.auth import tokens  # noqa: E402

BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JSON_API, JSON = "application/vnd.api+json", "application/json"
GOAL = 20
WARMUP = 20  # unmeasured requests of each kind first (connections, caches, JIT-less warm paths)


# --- the database and the server --------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env, port, log_path):
    with open(log_path, "wb") as log:
        return subprocess.Popen([BIN / "dataset-api", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "2"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_ready(proc, port, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"server not ready after {timeout}s")


def stop_server(proc):
    """Stop the gunicorn master we started (it stops its workers), by its PID."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


# --- the client ---------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP/1.1 connection (http.client), requests sent one after the other."""

    def __init__(self, port, bearer):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.auth = f"Bearer {bearer}"

    def send(self, method, path, body=None, media=JSON_API):
        headers = {"Authorization": self.auth, "Accept": JSON_API if media == JSON_API else JSON}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = media
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None

    def close(self):
        self.conn.close()


def attributes(entry_id, kind, i):
    return {"entry_id": entry_id, "dimensions": {"x": i % 640, "y": i % 480, "w": 32, "h": 32},
            "annotation": {"label": "bird", "score": 0.9}, "metadata": {"bench": kind, "i": i}}


def expect(status, body, want, what):
    if status != want:
        sys.exit(f"{what}: HTTP {status}, expected {want}: {json.dumps(body)[:500]}")


def jsonapi_posts(client, entry_id, n, kind="a"):
    for i in range(n):
        document = {"data": {"type": "dataset:annotations", "attributes": attributes(entry_id, kind, i)}}
        status, body = client.send("POST", "/annotations", document)
        expect(status, body, 201, "POST /annotations")


def rpc_singles(client, entry_id, n, kind="b"):
    for i in range(n):
        status, body = client.send("POST", "/annotations/_rpc", {
            "jsonrpc": "2.0", "method": "create", "params": attributes(entry_id, kind, i), "id": i}, JSON)
        expect(status, body, 200, "JSON-RPC create")
        if "result" not in body or body["id"] != i:
            sys.exit(f"JSON-RPC create failed: {json.dumps(body)[:500]}")


def rpc_batches(client, entry_id, n, size, kind="c"):
    for first in range(0, n, size):
        calls = [{"jsonrpc": "2.0", "method": "create", "params": attributes(entry_id, kind, i), "id": i}
                 for i in range(first, min(first + size, n))]
        status, body = client.send("POST", "/annotations/_rpc", calls, JSON)
        expect(status, body, 200, "JSON-RPC batch")
        bad = [r for r in body if "result" not in r]
        if bad or [r["id"] for r in body] != [c["id"] for c in calls]:
            sys.exit(f"JSON-RPC batch failed: {json.dumps(bad or body)[:500]}")


def make(client, res, **attrs):
    """POST a JSON:API resource; return its id."""
    status, body = client.send("POST", f"/{res}", {"data": {"type": f"dataset:{res}", "attributes": attrs}})
    expect(status, body, 201, f"POST /{res}")
    return body["data"]["id"]


def timed(fn, *args):
    began = time.perf_counter()
    fn(*args)
    return time.perf_counter() - began


def count(client, kind):
    status, body = client.send("GET", f"/annotations?count=true&page[size]=1&filter[metadata]="
                                      f"%7B%22bench%22%3A%22{kind}%22%7D")
    expect(status, body, 200, "GET /annotations?count=true")
    return body["meta"]["count"]


def run(args):
    tmp = tempfile.mkdtemp(prefix="dataset-api-rpcbench-")
    proc, pg_name = None, None
    try:
        url = ""
        if args.db == "postgresql":
            pg_name = f"rpcbench_{secrets.token_hex(4)}"
            url = benchkit.create_pg_database(ADMIN_URL, pg_name)
            print(f"created database {pg_name}", flush=True)
        secret = secrets.token_urlsafe(48)  # 64 characters
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL") and not k.startswith("DATASET_API_")}
        env.update(DATASET_API_DATA_DIR=tmp, DATASET_API_JWT_SECRET=secret)
        if url:
            env["DATABASE_URL"] = url
        port, log_path = free_port(), os.path.join(tmp, "server.log")
        proc = start_server(env, port, log_path)
        print(f"dataset-api serve pid {proc.pid} on 127.0.0.1:{port}", flush=True)
        wait_ready(proc, port, log_path)

        client = Client(port, tokens.issue(secret, account_id=1, email="bench@example.com", role="admin"))
        project = make(client, "projects", name="RPC bench", organization_id=1)
        dataset = make(client, "datasets", project_id=project, name="Bench", modality="image")
        entry_id = make(client, "entries", dataset_id=dataset, resource="s3://bench/1.jpg")

        jsonapi_posts(client, entry_id, WARMUP, "warm")
        rpc_singles(client, entry_id, WARMUP, "warm")
        rpc_batches(client, entry_id, args.batch, args.batch, "warm")
        load_before = os.getloadavg()[0]
        seconds = {
            "a": timed(jsonapi_posts, client, entry_id, args.n),
            "b": timed(rpc_singles, client, entry_id, args.n),
            "c": timed(rpc_batches, client, entry_id, args.n, args.batch),
        }
        load_after = os.getloadavg()[0]
        counted = {kind: count(client, kind) for kind in seconds}
        client.close()
        if any(c != args.n for c in counted.values()):
            sys.exit(f"expected {args.n} annotations of each kind, counted {counted}")
        stop_server(proc)
        problems = benchkit.log_problems([log_path])
        rates = {kind: args.n / s for kind, s in seconds.items()}
        return {"db": args.db, "n": args.n, "batch": args.batch,
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "seconds": seconds, "rates": rates, "ratio": rates["c"] / rates["a"],
                "loadavg": [load_before, load_after], "machine": benchkit.machine(url),
                "log_problems": problems}
    finally:
        stop_server(proc)
        if pg_name:
            benchkit.drop_pg_database(ADMIN_URL, pg_name)
            print(f"dropped database {pg_name}", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------------

def section(runs):
    ordered = sorted(runs.values(), key=lambda r: r["db"] != "sqlite")
    lines = ["## Bulk annotation writes: JSON:API vs JSON-RPC", "",
             "Written by `bench/rpc_bulk.py` (each run replaces the row of its database). One sequential "
             "keep-alive HTTP/1.1 client (no concurrency) against `dataset-api serve --workers 2` on "
             "127.0.0.1, same machine as the database; N annotations created on one entry each way:", "",
             "- **(a) JSON:API**: `POST /annotations`, one annotation per request (one transaction each)",
             "- **(b) JSON-RPC single**: one `create` call per `POST /annotations/_rpc`",
             "- **(c) JSON-RPC batch**: batches of `create` calls (one transaction per batch, a savepoint "
             "per call)", "",
             "| database | N | batch | (a) JSON:API /s | (b) RPC single /s | (c) RPC batch /s | (c) ÷ (a) "
             f"| goal ≥ {GOAL} |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in ordered:
        rates = r["rates"]
        lines.append(f"| {r['db']} | {r['n']:,} | {r['batch']} | {rates['a']:.0f} | {rates['b']:.0f} | "
                     f"{rates['c']:.0f} | {r['ratio']:.1f} | {'met' if r['ratio'] >= GOAL else 'MISSED'} |")
    lines += ["", "Set-up:", ""]
    for r in ordered:
        m = r["machine"]
        lines.append(f"- {r['db']}, {r['date']}: {m['cpu']}; {m['os']}; Python {m['python']}; "
                     f"{m['database']}; load average {r['loadavg'][0]:.1f} before, "
                     f"{r['loadavg'][1]:.1f} after")
    lines += ["", "How a batch is fast: consecutive `create` calls of a batch run as one set "
              "(`dataset_api/jsonrpc/bulk.py`): each call's params are checked alone (an invalid one gets "
              "its -32602 without touching the database), the distinct entries are read in one scoped "
              "SELECT, the rules and the permission check run per call from that cache, and the rows go "
              "in with one multi-row INSERT … RETURNING per 100 inside one savepoint. If that savepoint "
              "fails (a taken client id, an entry deleted meanwhile) it is rolled back and the run goes "
              "call by call, so each call still gets its exact error. Per batch of 100 (in-process, "
              "2026-11-29): SQLite ≈ 9.5 ms in the handler (the insert 4.2 ms, of which 1 ms SQL; body "
              "parsing 1.3 ms; param checks 1 ms; rendering 0.7 ms), PostgreSQL ≈ 14 ms (the INSERT alone "
              "≈ 4.7 ms: foreign keys, seven indexes, jsonb); Connexion and the middleware add ≈ 3 ms."]
    problems = [f"- {r['db']}: {p}" for r in ordered for p in r["log_problems"]]
    lines += ["", "Error lines in the server logs: " + ("none." if not problems else ""), *problems, "",
              "Re-run: `python bench/rpc_bulk.py --db sqlite --n 2000` and "
              "`python bench/rpc_bulk.py --db postgresql --n 2000` (creates and drops its own "
              "`rpcbench_<random>` database).", ""]
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--n", type=int, default=2000, help="annotations created each way")
    p.add_argument("--batch", type=int, default=100, help="calls per JSON-RPC batch (server limit: 100)")
    args = p.parse_args()
    if args.n < 1 or args.batch < 1:
        p.error("--n and --batch must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks
    result = run(args)
    r = result["rates"]
    print(f"{args.db}, N={args.n}: (a) JSON:API {r['a']:.0f}/s, (b) RPC single {r['b']:.0f}/s, "
          f"(c) RPC batch of {args.batch} {r['c']:.0f}/s; (c)/(a) = {result['ratio']:.1f} "
          f"(goal >= {GOAL}: {'met' if result['ratio'] >= GOAL else 'MISSED'})")
    for line in result["log_problems"]:
        print("server log:", line)
    runs = docsection.saved("rpc-bench")
    runs[result["db"]] = result
    docsection.write("rpc-bench", section(runs), runs)
    print(f"updated the rpc-bench section of {docsection.DOC}")


if __name__ == "__main__":
    main()
