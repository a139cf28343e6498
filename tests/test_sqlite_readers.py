"""Reads do not wait for writers on SQLite (issue #10): while another connection holds the write
lock (a ``recount``, a migration, a backup), a JSON-RPC batch that only reads answers at once,
as plain GETs do; a write still queues behind the lock, and past the busy timeout
(``DATASET_API_SQLITE_BUSY_TIMEOUT_MS``) is a 503 that wrote nothing."""

import sqlite3
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
