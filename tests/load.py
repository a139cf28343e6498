"""Write load against a live ``dataset-api serve`` and what must hold of it after a fault
(tests/test_faults.py): client threads create entries in one dataset, each under a unique
``resource`` name, so every stored row names the request that made it; every attempt is recorded
(acknowledged, answered otherwise, or failed with a transport error)."""

import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from dataset_api.auth import tokens
from tests.live import SECRET, wait_until

MEDIA = "application/vnd.api+json"
RPC = "/annotations/_rpc"
THREADS = 6  # client threads, each with its own keep-alive connection


class Client:
    """An admin's JSON:API client over one keep-alive connection (``factories`` builds with it)."""

    def __init__(self, server, timeout=30):
        token = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
        self.http = httpx.Client(base_url=server.url, timeout=timeout, headers={
            "Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA})

    def request(self, method, path, body=None):
        if path.startswith(RPC):  # JSON-RPC speaks plain JSON
            return self.http.request(method, path, json=body, headers={
                "Accept": "application/json", "Content-Type": "application/json"})
        return self.http.request(method, path, json=body)

    def create(self, res, **attributes):
        resp = self.request("POST", f"/{res}", {"data": {"type": f"dataset:{res}", "attributes": attributes}})
        assert resp.status_code == 201, f"POST /{res} -> {resp.status_code}: {resp.text[:500]}"
        return resp.json()["data"]

    def close(self):
        self.http.close()


def entry_body(dataset_id, resource):
    """The JSON:API body creating entry ``resource`` in the dataset."""
    attributes = {"dataset_id": dataset_id, "resource": resource}
    return {"data": {"type": "dataset:entries", "attributes": attributes}}


@dataclass
class Attempt:
    """One create: sent at ``started``; ``status`` None for a transport error (``error``)."""
    name: str
    started: float
    ended: float = None
    status: int = None
    id: str = None
    error: str = ""
    detail: str = ""  # what was wrong with an answer, beyond its status


def unavailable_problem(resp):
    """What a 503 lacks of a JSON:API error document with ``Retry-After`` ("" when complete)."""
    if not resp.headers.get("Retry-After", "").isdigit():
        return f"no Retry-After: {dict(resp.headers)}"
    if not resp.headers.get("content-type", "").startswith(MEDIA):
        return f"content type {resp.headers.get('content-type')}"
    try:
        status = resp.json()["errors"][0]["status"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"not a JSON:API error document: {resp.text[:300]}"
    return "" if status == "503" else f"errors[0].status {status!r}"


class WriteLoad:
    """``threads`` clients creating entries in ``dataset_id`` back to back until stopped; every
    attempt is recorded. A transport error or a 503 makes its thread pause briefly (no busy loop
    against a closed port)."""

    def __init__(self, server, dataset_id, threads=THREADS):
        self.server, self.dataset_id = server, dataset_id
        self.attempts, self.lock, self.stopping = [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung past its timeout"

    def _run(self, n):
        client, seq = Client(self.server), 0
        try:
            while not self.stopping.is_set():
                seq += 1
                attempt = Attempt(f"load-{n}-{seq}.png", time.monotonic())
                with self.lock:
                    self.attempts.append(attempt)
                try:
                    resp = client.request("POST", "/entries", entry_body(self.dataset_id, attempt.name))
                except httpx.TransportError as exc:
                    attempt.ended, attempt.error = time.monotonic(), f"{type(exc).__name__}: {exc}"
                    time.sleep(0.05)
                    continue
                attempt.ended, attempt.status = time.monotonic(), resp.status_code
                if resp.status_code == 201:
                    attempt.id = resp.json()["data"]["id"]
                elif resp.status_code == 503:
                    attempt.detail = unavailable_problem(resp)
                    time.sleep(0.05)
                else:
                    attempt.detail = resp.text[:300]
        finally:
            client.close()

    def snapshot(self):
        with self.lock:
            return list(self.attempts)

    def acked(self, since=0.0):
        return [a for a in self.snapshot() if a.status == 201 and a.started >= since]

    def wait_for_acks(self, count, since=0.0, timeout=30):
        """Wait until ``count`` creates sent after ``since`` were acknowledged; return whether they were."""
        return bool(wait_until(lambda: len(self.acked(since)) >= count, timeout, interval=0.05))

    def in_flight(self):
        return [a for a in self.snapshot() if a.ended is None]

    def transport_errors(self):
        return [a for a in self.attempts if a.status is None]

    def statuses(self):
        return Counter("transport error" if a.status is None else a.status for a in self.attempts)


# --- checks -------------------------------------------------------------------------------------

def stored_entries(client, dataset_id, page_size=1000):
    """{resource: id} of every entry stored in the dataset, page by page."""
    stored, number = {}, 1
    while True:
        resp = client.request("GET", f"/entries?filter[dataset_id]={dataset_id}"
                                     f"&fields[dataset:entries]=resource&page[size]={page_size}"
                                     f"&page[number]={number}")
        assert resp.status_code == 200, f"listing entries -> {resp.status_code}: {resp.text[:500]}"
        data = resp.json()["data"]
        stored.update((e["attributes"]["resource"], e["id"]) for e in data)
        if len(data) < page_size:
            return stored
        number += 1


def check_writes(load, server, dataset_id, allowed=(201,)):
    """Assert what a fault must never do to writes, read back through ``server``: every acknowledged
    create is stored under its id, no stored entry was never sent, no answer outside ``allowed`` (a
    503 must carry ``Retry-After`` and a JSON:API error document), and the dataset's counter equals
    its rows. Print and return a summary (transport errors: sent, unacknowledged)."""
    attempts = load.attempts
    odd = [a for a in attempts if a.status is not None and (a.status not in allowed or a.detail)]
    assert not odd, (f"{len(odd)} unexpected answers ({load.statuses()}), e.g. {odd[:3]}\n"
                     f"server log:\n{server.log_tail()}")
    client = Client(server)
    try:
        stored = stored_entries(client, dataset_id)
        total = client.request("GET", f"/datasets/{dataset_id}").json()["data"]["attributes"][
            "entries_total_count"]
    finally:
        client.close()
    acked = [a for a in attempts if a.status == 201]
    missing = [a for a in acked if stored.get(a.name) != a.id]
    assert not missing, (f"{len(missing)} of {len(acked)} acknowledged writes are not stored "
                         f"(or under another id), e.g. {missing[:5]}\nserver log:\n{server.log_tail()}")
    sent = {a.name for a in attempts}
    phantoms = sorted(set(stored) - sent)
    assert not phantoms, f"{len(phantoms)} stored entries no client sent: {phantoms[:10]}"
    assert total == len(stored), f"entries_total_count {total} but {len(stored)} entries stored"
    unacked = load.transport_errors()
    kinds = Counter(a.error.split(":")[0] for a in unacked).most_common(3)
    summary = (f"{len(attempts)} creates sent, {len(acked)} acknowledged and stored; answers "
               f"{dict(load.statuses())}; {len(unacked)} transport errors (unacknowledged) {kinds}, "
               f"{sum(a.name in stored for a in unacked)} of them stored anyway")
    print(summary)
    return summary


def no_crash_lines(server):
    crashes = [line for line in server.log().splitlines() if "unhandled error" in line or "Traceback" in line]
    assert not crashes, "the server logged crashes:\n" + "\n".join(crashes[:20]) + "\n" + server.log_tail()
