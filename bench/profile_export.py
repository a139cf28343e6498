"""Where an export's time goes: a JSONL export of 20,000 entries (every other one with one
annotation), timed and profiled in process, without HTTP.

    python bench/profile_export.py --db sqlite|postgresql [--entries 20000] [--rounds 3] [--top 25]

Builds the app over a scratch database (SQLite in a temporary folder; on PostgreSQL a database
``exportprofile_<random>`` created and dropped, admin connection ``BENCH_PG_ADMIN_URL``), imports
the entries through ``POST /datasets/{id}/import``, then asks for the export once: inside the
export's thread (its request context, its snapshot) ``Export.run`` is run ``--rounds`` times into a
sink that only counts bytes (the median is the rate), once more under cProfile, then for the
response. Prints the rate and the functions with the most time of their own; writes nothing to docs/.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchkit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BOX = {"x": 10, "y": 20, "w": 50, "h": 40}


def body(n):
    out = []
    for i in range(n):
        line = {"resource": f"s3://bench/export/img-{i:07d}.jpg", "priority": i % 5, "job_id": "bench-export"}
        if i % 2:
            line["annotations"] = [{"dimensions": BOX, "annotation": {"label": "bird"}, "metadata": {"i": i}}]
        out.append(json.dumps(line))
    return ("\n".join(out) + "\n").encode()


def measure(args, profile):
    """Import, then export once with the timed and profiled runs inside; return (seconds, bytes)."""
    from dataset_api.transfer import exporter
    from tests.conftest import Api, app_client, token

    run, times, sizes = exporter.Export.run, [], []

    def timed(self, put):
        for _ in range(args.rounds):
            pieces = []  # the first item is (format, dataset id), then bytes
            began = time.perf_counter()
            run(self, pieces.append)
            times.append(time.perf_counter() - began)
            sizes.append(sum(len(piece) for piece in pieces[1:]))
        profile.runcall(run, self, lambda item: None)
        return run(self, put)

    exporter.Export.run = timed
    with tempfile.TemporaryDirectory() as tmp, app_client(Path(tmp), validate_responses=False) as client:
        api = Api(client, token())
        project = api.create("projects", name="Export profile", organization_id=1)["id"]
        dataset = api.create("datasets", project_id=project, name="export", modality="image")["id"]
        resp = api.post(f"/datasets/{dataset}/import", raw=body(args.entries),
                        headers={"Content-Type": "application/x-ndjson"})
        assert resp.status_code == 200, resp.text[:500]
        resp = api.get(f"/datasets/{dataset}/export?format=jsonl", headers={"Accept": "*/*"})
        assert resp.status_code == 200 and resp.content.count(b"\n") == args.entries
        assert sizes == [len(resp.content)] * args.rounds
    return times, sizes[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    pg_name = None
    if args.db == "postgresql":
        pg_name = f"exportprofile_{secrets.token_hex(4)}"
        os.environ["DATASET_API_TEST_DATABASE_URL"] = benchkit.create_pg_database(ADMIN_URL, pg_name)
    profile = cProfile.Profile()
    try:
        load = os.getloadavg()[0]
        times, size = measure(args, profile)
    finally:
        if pg_name:
            from dataset_api.db import db

            db.obj.close_all()
            benchkit.drop_pg_database(ADMIN_URL, pg_name)
    print(f"{args.db}: {args.entries:,} entries ({size / 1e6:.1f} MB) in "
          f"{', '.join(f'{t:.3f}' for t in times)} s: {args.entries / statistics.median(times):,.0f} "
          f"entries/s (median; load average {load:.1f} before)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
