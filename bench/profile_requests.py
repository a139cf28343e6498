"""Where a request's time goes: a show, a filtered list and a claim (next + submit), profiled in process.

    python bench/profile_requests.py --db sqlite|postgresql [--rounds 300] [--top 25]

Loads the workflow benchmark's dataset (bench/workflow.py's ``load``: one project, annotators, a
dataset of ``--entries`` entries), builds the app as ``serve`` does (no response validation) and
calls it through Starlette's test client, so the whole ASGI stack runs: middleware, Connexion's
parameter and body validation, the handler, rendering. Every thread is profiled with yappi
(``pip install yappi``). Prints, per kind of request, the wall time per request with and without
the profiler, the time by package (``dataset_api``, connexion, peewee, the database driver, …) and
the functions with the most time of their own. Nothing is written to docs/: the findings are.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import benchkit
import workflow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JSON_API = "application/vnd.api+json"
PACKAGES = ("dataset_api", "connexion", "peewee", "playhouse", "psycopg2", "sqlite3", "jsonschema",
            "starlette", "anyio", "httpx", "jwt", "json", "re", "uuid", "datetime", "threading")


def package(module_path):
    """The package a profiled function's file belongs to ('other' when none of PACKAGES)."""
    parts = Path(module_path).with_suffix("").parts
    for name in reversed(parts):
        if name in PACKAGES:
            return name
    return "other"


def requests(client, headers, dataset_id, entry_ids):
    """The three kinds of request, each a function making one call and checking its status."""
    shown = iter(entry_ids * 1000)

    def show():
        r = client.get(f"/entries/{next(shown)}", headers=headers)
        assert r.status_code == 200, r.text

    def list_():
        r = client.get(f"/entries?filter[dataset_id]={dataset_id}&sort=-priority&page[size]=20",
                       headers=headers)
        assert r.status_code == 200, r.text

    def claim():
        r = client.get(f"/entries/next?filter[dataset_id]={dataset_id}", headers=headers)
        assert r.status_code == 200, r.text
        entry_id = r.json()["data"]["id"]
        r = client.post(f"/entries/{entry_id}/submit", content=b'{"data": {"attributes": {}}}',
                        headers={**headers, "Content-Type": JSON_API})
        assert r.status_code == 200, r.text

    return {"show": show, "list": list_, "claim (next + submit)": claim}


def timed(call, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def profile(call, rounds, top):
    import yappi

    yappi.clear_stats()
    yappi.set_clock_type("cpu")
    yappi.start(builtins=True, profile_threads=True)
    for _ in range(rounds):
        call()
    yappi.stop()
    stats = yappi.get_func_stats()
    by_package = defaultdict(float)
    for f in stats:
        by_package[package(f.module)] += f.tsub
    total = sum(by_package.values())
    print(f"    own time by package (all threads, {total / rounds * 1000:.2f} ms a request, "
          "CPU time):")
    for name, spent in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"      {name:<12} {spent / rounds * 1000:7.3f} ms  {spent / total:5.1%}")
    print(f"    top {top} functions by own time (ms a request, calls a request):")
    for f in sorted(stats, key=lambda f: -f.tsub)[:top]:
        print(f"      {f.tsub / rounds * 1000:7.3f} {f.ncall / rounds:8.1f}  "
              f"{package(f.module)}:{f.name} ({Path(f.module).name}:{f.lineno})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", help="profile only the requests whose name starts with this")
    args = parser.parse_args()

    from dataset_api.app import create_app
    from dataset_api.auth import tokens
    from dataset_api.config import Config
    from dataset_api.db import bind
    from dataset_api.models import Entry

    data_dir = tempfile.mkdtemp(prefix="bench-profile-")
    scratch = benchkit.ScratchDatabase(args.db, data_dir, "bench_profile", workflow.PG_ADMIN_URL)
    url = scratch.url
    try:
        dataset_id, version = workflow.load(url, args.entries, 1)
        config = Config(data_dir=data_dir, database_url=scratch.server_url,
                        jwt_secret="profile-secret-of-thirty-two-bytes-or-more")
        database = bind(url)
        with database.connection_context():
            entry_ids = [str(e.id) for e in Entry.select(Entry.id).where(
                Entry.dataset == dataset_id).limit(50)]
        token = tokens.issue("profile-secret-of-thirty-two-bytes-or-more", account_id=workflow.FIRST_ACCOUNT,
                             email=f"a{workflow.FIRST_ACCOUNT}@example.com", role="user")
        headers = {"Authorization": f"Bearer {token}", "Accept": JSON_API}
        print(f"{version}, {args.entries} entries, {args.rounds} rounds; {benchkit.machine('')['cpu']}")
        with create_app(config).test_client() as client:
            for name, call in requests(client, headers, dataset_id, entry_ids).items():
                if args.only and not name.startswith(args.only):
                    continue
                for _ in range(20):
                    call()
                print(f"\n{name}: {timed(call, args.rounds):.2f} ms p50 without the profiler")
                profile(call, args.rounds, args.top)
        database.close_all()
    finally:
        scratch.drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
