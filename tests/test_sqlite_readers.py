"""Reads do not wait for writers on SQLite (issue #10): while another connection holds the write
lock (a ``recount``, a migration, a backup), a JSON-RPC batch that only reads answers at once,
as plain GETs do; a batch that writes still queues behind the lock (then 503 past the busy timeout,
tested in test_errors)."""

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PG_URL, Api, app_client, token

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")


def test_a_read_only_batch_answers_while_a_writer_holds_the_lock(tmp_path):
    with app_client(tmp_path) as client:
        api = Api(client, token())
        project = api.create("projects", name="Birds", organization_id=7)
        dataset = api.create("datasets", project_id=project["id"], name="Photos", modality="image")
        entry = api.create("entries", dataset_id=dataset["id"], resource="a.png")
        writer = sqlite3.connect(Path(tmp_path) / "dataset-api.db", timeout=0)
        writer.execute("BEGIN IMMEDIATE")  # held for the whole batch below
        try:
            batch = [{"jsonrpc": "2.0", "id": 1, "method": "index",
                      "params": {"filter": {"entry_id": entry["id"]}}},
                     {"jsonrpc": "2.0", "id": 2, "method": "show", "params": {"id": "0" * 36}}]
            answer = client.post("/annotations/_rpc", json=batch,
                                 headers={"Authorization": f"Bearer {token()}"})
            assert api.get(f"/entries/{entry['id']}").status_code == 200  # as a plain GET does
        finally:
            writer.rollback()
            writer.close()
        assert answer.status_code == 200, answer.text
        replies = {reply["id"]: reply for reply in answer.json()}
        assert replies[1]["result"]["data"] == []
        assert replies[2]["error"]["code"] == -32004  # not found: a read, not a lock timeout
