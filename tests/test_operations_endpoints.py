"""What operators expect (issue #10): ``GET /readyz`` says whether the service may take traffic and
which check fails; ``GET /metrics`` exposes Prometheus metrics labelled by operationId and status,
never by anything a request carries, and a live ``serve`` with two workers reports every worker's
requests whichever worker answers the scrape (prometheus-client's multiprocess mode)."""

import json
import os
import re
import signal
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dataset_api import migrations
from dataset_api.config import Config
from dataset_api.db import bind, db
from tests.conftest import MEDIA
from tests.live import PG_URL, Server, dedicated_database, free_port
from tests.test_openapi import operations

# the service's operations, and the labels resource that test_adding_a_resource serves in this
# process (the metrics registry is the process's, whichever app counted)
LABELS_SPEC = yaml.safe_load((Path(__file__).parent / "labels" / "openapi.yaml").read_text())
OPERATION_IDS = {op["operationId"] for _path, _method, op in operations()} | {
    op["operationId"] for item in LABELS_SPEC.get("paths", {}).values() for op in item.values()
    if isinstance(op, dict) and "operationId" in op}
LABEL_VALUES = {  # every label the service sets, and what its values may be
    "operation": lambda v: v in OPERATION_IDS | {"unrouted"},
    "status": lambda v: re.fullmatch(r"[1-5][0-9][0-9]", v),
    "action": lambda v: v in ("next", "select"),
    "outcome": lambda v: v in ("claimed", "held", "none_left"),
    "pid": str.isdigit,  # multiprocess mode: the worker of a pool gauge
    "le": lambda v: v == "+Inf" or re.fullmatch(r"[0-9.e+-]+", v),
}


def samples(text, prefix="dataset_api_"):
    """[(name, labels, value)] of the service's own samples in a text exposition."""
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name.startswith(prefix)]


def total(text, name, **labels):
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(value for sample, have, value in samples(text)
               if sample == name and labels.items() <= have.items())


def requests_of(text, operation, status):
    return total(text, "dataset_api_http_requests_total", operation=operation, status=str(status))


def scrape(client):
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return resp.text


def assert_no_tenant_data(text):
    for name, labels, _value in samples(text):
        for label, value in labels.items():
            assert label in LABEL_VALUES and LABEL_VALUES[label](value), (name, label, value)


# ------------------------------------------------------------------------------------------ /readyz

def test_ready_on_a_migrated_database(anon):
    resp = anon.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_unready_while_a_migration_is_pending(anon, monkeypatch):
    """A release with a migration this database has not had yet (one more after the last)."""
    version, name = migrations.MIGRATIONS[-1][0] + 1, "a later release's migration"
    later = (version, name, lambda database: None)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, later])
    resp = anon.get("/readyz")
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json() == {"status": "unready", "checks": {
        "database": "ok", "migrations": f"pending: {version:04d} {name}"}}
    assert anon.get("/healthz").status_code == 200  # alive all the same: no reason to restart it
    assert migrations.migrate(db.obj) == [version]
    assert anon.get("/readyz").status_code == 200


def test_unready_when_the_database_is_unreachable(anon):
    bind(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")  # nothing listens there
    resp = anon.get("/readyz")
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json() == {"status": "unready",
                           "checks": {"database": "unreachable", "migrations": "unknown"}}
    assert "nowhere" not in resp.text and "127.0.0.1" not in resp.text
    assert anon.get("/healthz").status_code == 503
    assert anon.client.get("/metrics").status_code == 200  # metrics need no database


def test_readyz_answers_json_only(anon):
    assert anon.get("/readyz", headers={"Accept": "text/html"}).status_code == 406


# ----------------------------------------------------------------------------------------- /metrics

def test_requests_are_counted_by_operation_and_status(client, api, tree):
    entry, missing = tree["entries"][0]["id"], str(uuid.uuid4())
    before = scrape(client)
    assert api.get(f"/entries/{entry}").status_code == 200
    assert api.get(f"/entries/{missing}").status_code == 404
    assert api.get("/projects").status_code == 200
    assert api.get("/projects?filter[nope]=1").status_code == 400
    assert api.get("/no/such/route").status_code == 404
    after = scrape(client)
    for operation, status in (("getEntry", 200), ("getEntry", 404), ("listProjects", 200),
                              ("listProjects", 400), ("unrouted", 404)):
        assert requests_of(after, operation, status) - requests_of(before, operation, status) == 1
    assert total(after, "dataset_api_http_request_duration_seconds_count", operation="getEntry") - \
        total(before, "dataset_api_http_request_duration_seconds_count", operation="getEntry") == 2
    assert requests_of(after, "getMetrics", 200) >= 1  # the scrapes are requests too
    assert entry not in after and missing not in after and "/no/such" not in after
    assert_no_tenant_data(after)


def test_pool_gauges_describe_the_connection_pool(client, api):
    assert api.get("/projects").status_code == 200
    text = scrape(client)
    assert total(text, "dataset_api_db_pool_max_connections") == db.obj._max_connections
    assert total(text, "dataset_api_db_pool_connections_in_use") >= 0
    assert total(text, "dataset_api_db_pool_connections_idle") >= 1  # the request's, given back


def test_claims_and_rpc_batches_are_counted(client, api, tree):
    entry, dataset = tree["entries"][0]["id"], tree["dataset"]["id"]
    before = scrape(client)
    assert api.get(f"/entries/{entry}/select").status_code == 200  # claimed
    assert api.get(f"/entries/{entry}/select").status_code == 200  # the caller's already
    assert api.get(f"/entries/next?filter[dataset_id]={dataset}").status_code == 200  # its own: held
    calls = [{"jsonrpc": "2.0", "method": "show", "params": {"id": str(uuid.uuid4())}, "id": i}
             for i in range(3)]
    rpc = api.client.post("/annotations/_rpc", content=json.dumps(calls), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {api.bearer}"})
    assert rpc.status_code == 200, rpc.text
    after = scrape(client)

    def moved(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    claims = "dataset_api_workflow_claims_total"
    assert moved(claims, action="select", outcome="claimed") == 1
    assert moved(claims, action="select", outcome="held") == 1
    assert moved(claims, action="next", outcome="held") == 1
    assert moved(claims, action="next", outcome="claimed") == 0
    assert moved("dataset_api_jsonrpc_batch_size_count") == 1
    assert moved("dataset_api_jsonrpc_batch_size_sum") == 3
    assert_no_tenant_data(after)


def test_next_counts_a_claim_and_an_empty_queue(client, api, tree):
    dataset = tree["dataset"]["id"]
    before = scrape(client)
    claimed = set()
    for _ in tree["entries"]:
        resp = api.get(f"/entries/next?filter[dataset_id]={dataset}")
        assert resp.status_code == 200, resp.text
        claimed.add(resp.json()["data"]["id"])
        assert api.post(f"/entries/{resp.json()['data']['id']}/error",
                        {"data": {"attributes": {"message": "skip"}}}).status_code == 200
    assert api.get(f"/entries/next?filter[dataset_id]={dataset}").status_code == 404
    after = scrape(client)
    claims = "dataset_api_workflow_claims_total"
    assert total(after, claims, action="next", outcome="claimed") - \
        total(before, claims, action="next", outcome="claimed") == len(claimed) == len(tree["entries"])
    assert total(after, claims, action="next", outcome="none_left") - \
        total(before, claims, action="next", outcome="none_left") == 1


@pytest.mark.parametrize("accept, status", [("text/plain", 200), ("text/plain;version=0.0.4", 200),
                                            ("*/*", 200), ("application/json", 406), (MEDIA, 406)])
def test_metrics_answer_the_text_format_only(client, accept, status):
    resp = client.get("/metrics", headers={"Accept": accept})
    assert resp.status_code == status, resp.text
    if status == 406:
        assert resp.json()["errors"][0]["code"] == "not_acceptable"


def test_prometheus_scrapers_accept_header_is_served(client):
    accept = ("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,"
              "*/*;q=0.1")  # what Prometheus sends
    assert client.get("/metrics", headers={"Accept": accept}).status_code == 200


def test_the_metrics_folder_setting():
    assert Config.from_env({"DATASET_API_METRICS_DIR": "/var/lib/x/prom"}).metrics_path == "/var/lib/x/prom"
    assert Config.from_env({"DATASET_API_DATA_DIR": "/srv/ds"}).metrics_path == "/srv/ds/metrics"


def test_serve_wipes_only_prometheus_files(tmp_path, monkeypatch):
    from dataset_api import cli

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "restored-after-the-test")
    folder = tmp_path / "prom"
    folder.mkdir()
    for name in ("counter_12.db", "gauge_liveall_12.db", "histogram_12.db", "notes.txt"):
        (folder / name).write_text("x")
    assert cli.metrics_directory(Config(metrics_dir=str(folder))) == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert cli.metrics_directory(Config(data_dir=str(tmp_path))) == str(tmp_path / "metrics")
    assert (tmp_path / "metrics").is_dir()


# --------------------------------------------------------------------------- a live serve, 2 workers

def pids_of_pool_series(text):
    return {labels["pid"] for name, labels, _ in samples(text)
            if name == "dataset_api_db_pool_connections_in_use"}


def readiness_requests(text):
    return requests_of(text, "getReadiness", 200)


def test_metrics_sum_over_every_worker(tmp_path):
    """N requests spread over two workers; every scrape, whichever worker answers it, counts N.
    When a worker dies its counts stay and its pool series goes (gunicorn's child_exit hook)."""
    database = dedicated_database() if PG_URL else nullcontext("")
    with database as url, Server(tmp_path, url, workers=2) as server:
        workers = {str(pid) for pid in server.workers()}
        assert len(workers) == 2
        sent = 0
        for _ in range(20):  # until both workers have answered some (new connection each time)
            for _ in range(10):
                assert httpx.get(f"{server.url}/readyz").status_code == 200
                sent += 1
            if pids_of_pool_series(httpx.get(f"{server.url}/metrics").text) == workers:
                break
        text = httpx.get(f"{server.url}/metrics").text
        assert pids_of_pool_series(text) == workers, "one worker answered everything"
        for _ in range(6):  # the scrapes land on either worker
            text = httpx.get(f"{server.url}/metrics").text
            assert readiness_requests(text) == sent
        assert_no_tenant_data(text)
        assert not [line for line in server.error_lines() if "Traceback" in line]

        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (victim in server.workers() or len(server.workers()) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)  # gunicorn reaps it (child_exit) and forks a replacement
        assert victim not in server.workers() and len(server.workers()) == 2
        for _ in range(6):
            text = httpx.get(f"{server.url}/metrics").text
            assert readiness_requests(text) == sent  # the dead worker's requests still count
            assert str(victim) not in pids_of_pool_series(text)
