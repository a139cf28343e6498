"""PostgreSQL's locks (issue #10): a statement waits for a lock at most
``DATASET_API_PG_LOCK_TIMEOUT_MS`` and runs at most ``DATASET_API_PG_STATEMENT_TIMEOUT_MS``; past
that the client gets a 503 with ``Retry-After`` (JSON-RPC: -32005 for every call) and nothing is
written. And where a rule reads another row than the one written (an annotation's entry), that row
is locked to the commit, so a concurrent change to it is waited for, never missed. SQLite has its
own bound (the busy timeout, test_sqlite_readers) and writes one at a time."""

import threading

import psycopg2
import pytest

from dataset_api.db import db
from tests import factories
from tests.conftest import PG_URL, Api, app_client, token

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL settings")


def _setting(name):
    with db.connection_context():
        return db.execute_sql(f"SHOW {name}").fetchone()[0]


def test_the_app_bounds_lock_waits_and_statements(tmp_path):
    with app_client(tmp_path):
        assert (_setting("lock_timeout"), _setting("statement_timeout")) == ("5s", "30s")
    with app_client(tmp_path, pg_lock_timeout_ms=250, pg_statement_timeout_ms=1500):
        assert (_setting("lock_timeout"), _setting("statement_timeout")) == ("250ms", "1500ms")


def test_a_write_blocked_by_a_lock_is_a_503_and_writes_nothing(tmp_path):
    with app_client(tmp_path, pg_lock_timeout_ms=250) as client:
        api = Api(client, token())
        project = api.create("projects", name="Locked", organization_id=7)
        body = {"data": {"type": "dataset:projects", "id": project["id"], "attributes": {"name": "Moved"}}}
        holder = psycopg2.connect(PG_URL)  # another session holds the row (a long maintenance job)
        try:
            with holder.cursor() as cursor:
                # it lets go after 3 s idle, so an unbounded wait ends (in a 200) instead of hanging
                cursor.execute("SET idle_in_transaction_session_timeout = '3s'")
                cursor.execute("SELECT 1 FROM project WHERE id = %s FOR UPDATE", (project["id"],))
            blocked = api.patch(f"/projects/{project['id']}", body)
        finally:
            holder.rollback()
            holder.close()
        assert blocked.status_code == 503, blocked.text
        assert blocked.headers["Retry-After"] == "5"
        assert blocked.json()["errors"][0]["status"] == "503"
        assert api.get(f"/projects/{project['id']}").json()["data"]["attributes"]["name"] == "Locked"
        assert api.patch(f"/projects/{project['id']}", body).status_code == 200  # once it is free


def test_a_json_rpc_batch_blocked_by_a_lock_is_a_503_and_writes_nothing(tmp_path):
    """DESIGN §10: on ``/annotations/_rpc`` the 503 is a JSON-RPC error (-32005, ``data.retry_after``)
    answering the whole request; the calls before the blocked one are rolled back with it."""
    with app_client(tmp_path, pg_lock_timeout_ms=250) as client:
        api = Api(client, token())
        entry = factories.entry(api, factories.dataset(api, factories.project(api)))
        annotation = factories.annotation(api, entry)
        batch = [{"jsonrpc": "2.0", "id": 1, "method": "create",
                  "params": {"entry_id": entry["id"], "dimensions": {}, "annotation": {"label": "new"}}},
                 {"jsonrpc": "2.0", "id": 2, "method": "update",
                  "params": {"id": annotation["id"], "annotation": {"label": "changed"}}}]
        holder = psycopg2.connect(PG_URL)
        try:
            with holder.cursor() as cursor:
                cursor.execute("SET idle_in_transaction_session_timeout = '3s'")
                cursor.execute("SELECT 1 FROM annotation WHERE id = %s FOR UPDATE", (annotation["id"],))
            blocked = client.post("/annotations/_rpc", json=batch,
                                  headers={"Authorization": f"Bearer {token()}"})
        finally:
            holder.rollback()
            holder.close()
        assert blocked.status_code == 503, blocked.text
        assert blocked.headers["Retry-After"] == "5"
        detail = "The database is unavailable; try again shortly."
        unavailable = {"code": -32005, "message": "Service unavailable",
                       "data": {"detail": detail, "retry_after": 5}}
        assert blocked.json() == [{"jsonrpc": "2.0", "id": i, "error": unavailable} for i in (1, 2)]
        listed = api.get(f"/annotations?filter[entry_id]={entry['id']}").json()["data"]
        assert [a["attributes"]["annotation"] for a in listed] == [{"label": "bird"}]  # nothing written
        again = client.post("/annotations/_rpc", json=batch, headers={"Authorization": f"Bearer {token()}"})
        assert [reply.get("error") for reply in again.json()] == [None, None]  # once the row is free


@pytest.mark.parametrize("how", ["patch", "rpc"])
def test_an_annotation_write_racing_the_completion_of_its_entry_sees_it(tmp_path, how):
    """A submit that completes the entry is in flight (its transaction holds the entry's row): an
    annotation write waits for it, then sees the entry completed (409 / -32009), instead of
    changing a completed entry's annotations on a status read a moment too early."""
    with app_client(tmp_path) as client:
        api = Api(client, token())
        entry = factories.entry(api, factories.dataset(api, factories.project(api)))
        annotation = factories.annotation(api, entry)
        completing = psycopg2.connect(PG_URL)
        answer = {}

        def write():
            if how == "patch":
                body = {"data": {"type": "dataset:annotations", "id": annotation["id"],
                                 "attributes": {"annotation": {"label": "late"}}}}
                answer["resp"] = api.patch(f"/annotations/{annotation['id']}", body)
            else:
                params = {"entry_id": entry["id"], "dimensions": {}, "annotation": {"label": "late"}}
                calls = [{"jsonrpc": "2.0", "id": i, "method": "create", "params": params} for i in (1, 2)]
                answer["resp"] = client.post("/annotations/_rpc", json=calls,
                                             headers={"Authorization": f"Bearer {token()}"})

        try:
            with completing.cursor() as cursor:
                cursor.execute("UPDATE entry SET status = 'completed', wf_step = 'done' WHERE id = %s",
                               (entry["id"],))
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(1.5)
            assert writer.is_alive(), f"the write did not wait for the completion: {answer}"
            completing.commit()
            writer.join(30)
        finally:
            completing.rollback()
            completing.close()
        resp = answer["resp"]
        if how == "patch":
            assert resp.status_code == 409, resp.text
            assert resp.json()["errors"][0]["code"] == "entry_completed"
        else:
            assert [reply["error"]["code"] for reply in resp.json()] == [-32009, -32009], resp.text
        listed = api.get(f"/annotations?filter[entry_id]={entry['id']}").json()["data"]
        assert [a["attributes"]["annotation"] for a in listed] == [{"label": "bird"}]
