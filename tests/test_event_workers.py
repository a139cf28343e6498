"""The delivery worker as it runs: ``dataset-api worker`` processes (two at once; one killed with
kill -9 in the middle of a delivery) and the one ``dataset-api serve`` starts, against a real
HTTP receiver on 127.0.0.1, on SQLite and on PostgreSQL."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from dataset_api.db import db
from dataset_api.models import WebhookDelivery
from tests import factories as f
from tests.conftest import PG_URL, SECRET, Api, app_client, token
from tests.live import Client, Server, alive, wait_until
from tests.receiver import Receiver


def start_worker(data_dir, **env):
    settings = {
        "DATASET_API_DATA_DIR": str(data_dir),
        "DATASET_API_JWT_SECRET": SECRET,
        "DATASET_API_WEBHOOK_ALLOW_PRIVATE": "1",
        "DATASET_API_WORKER_POLL_SECONDS": "0.1",
        "DATASET_API_WEBHOOK_RETRY_SECONDS": "0.2",
        **env,
    }
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL")}
    if PG_URL:
        environ["DATABASE_URL"] = PG_URL
    return subprocess.Popen(
        [sys.executable, "-m", "dataset_api", "worker"],
        env={**environ, **settings},
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / "worker.log", "ab"),
    )


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hook(api, project, url):
    resp = api.post(
        "/webhooks",
        {"data": {"type": "dataset:webhooks", "attributes": {"project_id": f.id_of(project), "url": url}}},
    )
    assert resp.status_code == 201, resp.text


def annotations(client, entry_id, n):
    """``n`` annotations created in one JSON-RPC batch: ``n`` events."""
    batch = [
        {
            "jsonrpc": "2.0",
            "method": "create",
            "id": i,
            "params": {"entry_id": entry_id, "dimensions": {}, "annotation": {"i": i}},
        }
        for i in range(n)
    ]
    resp = client.post(
        "/annotations/_rpc",
        content=json.dumps(batch),
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200 and all("result" in r for r in resp.json()), resp.text


def message_ids():
    with db.connection_context():
        return {d.message_id: d.status for d in WebhookDelivery.select()}


def world(client, receiver):
    api = Api(client, token())
    tree = f.tree(api)
    hook(api, tree["project"], receiver.url)
    return tree["entries"][0]["id"]


def test_two_workers_deliver_each_event_once(tmp_path):
    with app_client(tmp_path) as client, Receiver() as receiver:
        entry_id = world(client, receiver)
        workers = [start_worker(tmp_path), start_worker(tmp_path)]
        try:
            for _ in range(4):
                annotations(client, entry_id, 50)
            assert wait_until(
                lambda: len(receiver.received) >= 200 and set(message_ids().values()) == {"succeeded"}, 60
            ), len(receiver.received)
            time.sleep(1)  # nothing more arrives
        finally:
            for proc in workers:
                stop(proc)
        received = Counter(h["webhook-id"] for h, _ in receiver.messages())
    assert set(received) == set(message_ids())
    assert max(received.values()) == 1, received.most_common(3)


def settled(receiver, quiet=0.5):
    """A check for ``wait_until``: true once ``receiver`` got nothing new for ``quiet`` seconds."""
    seen = {"count": -1, "since": time.monotonic()}

    def check():
        count = len(receiver.received)
        if count != seen["count"]:
            seen.update(count=count, since=time.monotonic())
        return time.monotonic() - seen["since"] >= quiet

    return check


def test_kill_9_of_the_worker_mid_delivery_loses_no_event(tmp_path):
    with app_client(tmp_path) as client, Receiver(hang=2.0, hang_first=4) as receiver:
        entry_id = world(client, receiver)
        annotations(client, entry_id, 30)
        first = start_worker(
            tmp_path, DATASET_API_WEBHOOK_TIMEOUT_SECONDS="1", DATASET_API_WORKER_CONCURRENCY="4"
        )
        try:
            assert wait_until(lambda: len(receiver.received) >= 1, 30)  # a batch is in flight
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        finally:
            stop(first)
        # the requests the dead worker had sent before the kill may still be reaching the receiver;
        # from now on it answers at once (had the kill come before the worker sent all of its first
        # 4, the second worker's first requests would hang, time out and rightly go again)
        assert wait_until(settled(receiver), 10)
        receiver.hang_first = 0
        in_flight = {h["webhook-id"] for h, _ in receiver.messages()}
        assert set(message_ids().values()) != {"succeeded"}  # it died before recording them
        second = start_worker(tmp_path, DATASET_API_WEBHOOK_TIMEOUT_SECONDS="1")
        try:  # once the dead worker's lease (2 × timeout + 1 s) ran out, its batch goes again
            assert wait_until(lambda: set(message_ids().values()) == {"succeeded"}, 60), message_ids()
        finally:
            stop(second)
        received = Counter(h["webhook-id"] for h, _ in receiver.messages())
    assert set(received) == set(message_ids())  # every event arrived
    assert {mid for mid, n in received.items() if n > 1} <= in_flight  # resent: only the ones in flight


def test_serve_runs_a_worker_that_dies_with_it(tmp_path):
    database_url = PG_URL
    with Receiver() as receiver:
        server = Server(
            tmp_path,
            database_url,
            workers=1,
            env={"DATASET_API_WEBHOOK_ALLOW_PRIVATE": "1", "DATASET_API_WORKER_POLL_SECONDS": "0.1"},
        )
        with server:
            child = wait_until(server.delivery_worker, 30)
            assert child is not None
            admin = Client(server, 1, role="admin")
            project = admin.create("projects", name="Birds", organization_id=7)
            admin.create("webhooks", project_id=project["id"], url=receiver.url)
            admin.create("datasets", project_id=project["id"], name="Photos", modality="image")
            assert wait_until(lambda: receiver.types() == ["dataset:datasets:created"], 30)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            assert wait_until(lambda: not alive(child), 15), "the worker outlived its master"


def test_serve_with_no_worker_starts_none(tmp_path):
    with Server(tmp_path, PG_URL, workers=1, args=["--no-worker"]) as server:
        assert server.wait_for_workers()
        time.sleep(1)
        assert server.delivery_worker() is None
