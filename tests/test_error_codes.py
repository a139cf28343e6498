"""Errors a program can branch on (DESIGN §9): distinct documented ``code``s, ``WWW-Authenticate``
on 401, ``Retry-After`` on 503, and ``X-Request-ID`` on every answer."""

import peewee
import pytest

from tests.conftest import Api
from tests.test_openapi import SPEC

CODES = set(SPEC["components"]["schemas"]["ErrorObject"]["properties"]["code"]["enum"])


def error(resp, status):
    assert resp.status_code == status, resp.text
    err = resp.json()["errors"][0]
    assert err["code"] in CODES, err
    return err


def test_conflicts_say_which_conflict(api, tree):
    entry = tree["entries"][0]
    twin = {"data": {"type": "entries", "attributes": {"dataset_id": tree["dataset"]["id"],
                                                       "resource": entry["attributes"]["resource"]}}}
    assert error(api.post("/entries", twin), 409)["code"] == "duplicate"
    done = api.post(f"/entries/{entry['id']}/error", {"data": {"attributes": {"message": "corrupt"}}})
    assert done.status_code == 200, done.text
    assert error(api.get(f"/entries/{entry['id']}/select"), 409)["code"] == "wrong_step"
    wrong_type = {"data": {"type": "dataset:nope", "attributes": {"name": "x", "organization_id": 1}}}
    assert error(api.post("/projects", wrong_type), 409)["code"] == "type_mismatch"
    other = tree["entries"][1]
    mismatch = {"data": {"type": "entries", "id": entry["id"], "attributes": {"priority": 1}}}
    assert error(api.patch(f"/entries/{other['id']}", mismatch), 409)["code"] == "id_mismatch"


def test_stale_if_match_is_stale_version(api, tree):
    entry = tree["entries"][2]
    resp = api.patch(f"/entries/{entry['id']}", {"data": {"type": "entries", "attributes": {"priority": 3}}},
                     headers={"If-Match": f'"{entry["id"]}.999"'})
    assert error(resp, 412)["code"] == "stale_version"


def test_missing_and_unknown_say_so(api, tree):
    resp = api.post("/projects", {"data": {"type": "projects", "attributes": {"name": "x"}}})
    err = error(resp, 422)
    assert (err["code"], err["source"]["pointer"]) == ("required", "/data/attributes/organization_id")
    assert error(api.get("/entries?filter[nope]=1"), 400)["code"] in ("unknown_parameter", "bad_request")
    assert error(api.get("/entries?page[size]=1&page[size]=2"), 400)["code"] == "repeated_parameter"
    assert error(api.get("/entries?bogus=1"), 400)["code"] == "unknown_parameter"


@pytest.mark.parametrize("path", ["/projects", "/annotations/_rpc"])
def test_401_carries_a_bearer_challenge(client, path):
    resp = client.post(path, content=b"{}", headers={"Content-Type": "application/json"}) \
        if path.endswith("_rpc") else Api(client, None).get(path)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_answer_carries_a_request_id(api, anon):
    assert api.get("/projects").headers["X-Request-ID"]
    assert anon.get("/projects").headers["X-Request-ID"]
    assert api.get("/projects", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"


def test_an_outage_is_503_with_retry_after(api, monkeypatch):
    from dataset_api.auth import permissions

    def down(*args, **kwargs):
        raise peewee.OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(permissions, "current_user", down)
    monkeypatch.setattr("dataset_api.crud.current_user", down)
    body = {"data": {"type": "projects", "attributes": {"name": "x", "organization_id": 1}}}
    resp = api.post("/projects", body)
    assert error(resp, 503)["code"] == "unavailable"
    assert int(resp.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("calls", [1, 3])  # one call alone, and a run of creates written as a set
def test_an_outage_inside_a_json_rpc_batch_is_one_503(api, tree, monkeypatch, calls):
    """DESIGN §10: not a -32603 per call but the whole request's -32005 (HTTP 503), to send again."""
    def down(*args, **kwargs):
        raise peewee.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("dataset_api.jsonrpc.methods.current_user", down)
    monkeypatch.setattr("dataset_api.jsonrpc.bulk.current_user", down)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "create",
              "params": {"entry_id": tree["entries"][0]["id"], "dimensions": {}, "annotation": {}}}
             for i in range(calls)]
    resp = api.client.post("/annotations/_rpc", json=batch, headers={"Authorization": f"Bearer {api.bearer}"})
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) >= 1
    replies = resp.json()  # the whole request failed: each call gets the error under its id
    assert [reply["id"] for reply in replies] == list(range(calls))
    for reply in replies:
        assert (reply["error"]["code"], reply["error"]["data"]["retry_after"]) == (
            -32005, int(resp.headers["Retry-After"]))


def test_a_worker_out_of_pooled_connections_answers_503(api, monkeypatch):
    """Every connection of the worker's pool in use past the pool's wait: a 503 to retry, not a 500."""
    import threading

    from dataset_api.db import db

    monkeypatch.setattr(db.obj, "_max_connections", 1)
    monkeypatch.setattr(db.obj, "_wait_timeout", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold():  # another thread keeps the one connection (peewee's connection state is per thread)
        with db.connection_context():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        resp = api.get("/projects")
        rpc = api.client.post("/annotations/_rpc", json={"jsonrpc": "2.0", "id": 1, "method": "show",
                                                         "params": {"id": "0" * 36}},
                              headers={"Authorization": f"Bearer {api.bearer}"})
    finally:
        release.set()
        holder.join()
    assert error(resp, 503)["code"] == "unavailable"
    assert resp.headers["Retry-After"] == "5"
    assert rpc.status_code == 503 and rpc.json()["error"]["code"] == -32005, rpc.text
    assert api.get("/projects").status_code == 200  # once a connection is back
