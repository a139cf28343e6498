"""Reads do not wait for writers on SQLite (issue #10): while another connection holds the write
lock (a ``recount``, a migration, a backup), a JSON-RPC batch that only reads answers at once,
as plain GETs do; a write still queues behind the lock, and past the busy timeout
(``DATASET_API_SQLITE_BUSY_TIMEOUT_MS``) is a 503 that wrote nothing."""

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PG_URL, Api, app_client, token

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")


@contextmanager
def write_lock(directory):
    """Another connection holds the database's write lock meanwhile."""
    writer = sqlite3.connect(Path(directory) / "dataset-api.db", timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        writer.rollback()
        writer.close()


def test_a_read_only_batch_answers_while_a_writer_holds_the_lock(tmp_path):
    with app_client(tmp_path) as client:
        api = Api(client, token())
        project = api.create("projects", name="Birds", organization_id=7)
        dataset = api.create("datasets", project_id=project["id"], name="Photos", modality="image")
        entry = api.create("entries", dataset_id=dataset["id"], resource="a.png")
        with write_lock(tmp_path):  # held for the whole batch below
            batch = [{"jsonrpc": "2.0", "id": 1, "method": "index",
                      "params": {"filter": {"entry_id": entry["id"]}}},
                     {"jsonrpc": "2.0", "id": 2, "method": "show", "params": {"id": "0" * 36}}]
            answer = client.post("/annotations/_rpc", json=batch,
                                 headers={"Authorization": f"Bearer {token()}"})
            assert api.get(f"/entries/{entry['id']}").status_code == 200  # as a plain GET does
        assert answer.status_code == 200, answer.text
        replies = {reply["id"]: reply for reply in answer.json()}
        assert replies[1]["result"]["data"] == []
        assert replies[2]["error"]["code"] == -32004  # not found: a read, not a lock timeout


def test_a_write_kept_waiting_past_the_busy_timeout_is_a_503_that_wrote_nothing(tmp_path):
    with app_client(tmp_path, sqlite_busy_timeout_ms=300) as client:
        api = Api(client, token())
        project = api.create("projects", name="Birds", organization_id=7)
        dataset = api.create("datasets", project_id=project["id"], name="Photos", modality="image")
        entry = api.create("entries", dataset_id=dataset["id"], resource="a.png")
        create = {"jsonrpc": "2.0", "id": 1, "method": "create",
                  "params": {"entry_id": entry["id"], "dimensions": {}, "annotation": {"label": "cat"}}}
        rename = {"data": {"type": "dataset:projects", "id": project["id"], "attributes": {"name": "Cats"}}}
        with write_lock(tmp_path):
            plain = api.patch(f"/projects/{project['id']}", rename)
            rpc = client.post("/annotations/_rpc", json=[create],
                              headers={"Authorization": f"Bearer {token()}"})
        assert plain.status_code == 503, plain.text
        assert plain.headers["Retry-After"] == "5"
        assert plain.json()["errors"][0]["code"] == "unavailable"
        assert rpc.status_code == 503, rpc.text
        assert rpc.headers["Retry-After"] == "5"
        [reply] = rpc.json()
        assert (reply["id"], reply["error"]["code"], reply["error"]["data"]["retry_after"]) == (1, -32005, 5)
        assert api.get(f"/projects/{project['id']}").json()["data"]["attributes"]["name"] == "Birds"
        assert api.get(f"/annotations?filter[entry_id]={entry['id']}").json()["data"] == []
        assert api.patch(f"/projects/{project['id']}", rename).status_code == 200  # once it is free


def test_writers_queued_in_the_process_wait_no_longer_than_the_busy_timeout(tmp_path):
    """The writers of one process queue for the write lock one at a time (dataset_api.db's
    QueuedSqliteDatabase); the time spent in that queue counts in the busy timeout. Six writers
    kept out by an outside lock each get their 503 within about one timeout (300 ms), not one
    after the other (the last after 6 × 300 ms); once the lock is free they all write."""
    with app_client(tmp_path, sqlite_busy_timeout_ms=300) as client:
        api = Api(client, token())
        project = api.create("projects", name="Birds", organization_id=7)
        datasets = [api.create("datasets", project_id=project["id"], name=f"Set {i}", modality="image")
                    for i in range(6)]

        def rename(dataset, name):
            body = {"data": {"type": "dataset:datasets", "id": dataset["id"], "attributes": {"name": name}}}
            started = time.monotonic()
            resp = api.patch(f"/datasets/{dataset['id']}", body)
            return resp.status_code, time.monotonic() - started

        with write_lock(tmp_path), ThreadPoolExecutor(6) as pool:
            waits = list(pool.map(rename, datasets, ["Locked"] * 6))
        assert [status for status, _ in waits] == [503] * 6
        assert max(took for _, took in waits) < 1.2, waits  # each about 0.3 s, not up to 1.8 s
        with ThreadPoolExecutor(6) as pool:
            after = list(pool.map(rename, datasets, [f"Free {i}" for i in range(6)]))
        assert [status for status, _ in after] == [200] * 6
        names = {d["attributes"]["name"] for d in api.get("/datasets").json()["data"]}
        assert names == {f"Free {i}" for i in range(6)}
