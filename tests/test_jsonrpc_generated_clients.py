"""JSON-RPC as client generators see it (issue #21): ``POST /annotations/_rpc`` described without
an "object or array" ``anyOf`` (RpcRequest names no type) and ``POST /annotations/_rpc/batch``, an
operation whose body and answer are arrays. Both run the one protocol of DESIGN §5; these tests
check that each schema refuses exactly what the server refuses with 400, over a table of bodies a
generator or a fuzzer may send, and that the batch operation answers as a batch does."""

import copy
import json

import pytest
from jsonschema import Draft4Validator

from dataset_api import spec
from tests.conftest import token
from tests.test_jsonrpc import envelope, failed, new, ok

SPEC = spec.document()
SINGLE, BATCH = "/annotations/_rpc", "/annotations/_rpc/batch"


def _nullable(schema):
    """OpenAPI 3.0's ``nullable`` as JSON Schema Draft 4 says it (null joins the named type)."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _nullable(value) for key, value in schema.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def validator(name):
    document = _nullable(copy.deepcopy(SPEC))
    return Draft4Validator({**document["components"]["schemas"][name], "components": document["components"]})


def post(client, path, body):
    resp = client.post(path, content=json.dumps(body),
                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {token()}"})
    assert resp.status_code != 500, resp.text
    return resp


def call(method="index", params=None, call_id=1, **extra):
    body = {"jsonrpc": "2.0", "method": method, **extra}
    if params is not None:
        body["params"] = params
    if call_id is not ...:
        body["id"] = call_id
    return body


# Bodies on either side of every rule RpcRequest states (a call's members, the batch's bounds, what
# is neither an object nor an array), and the in-band errors that are not HTTP refusals.
BODIES = {
    "call": call(), "call-string-id": call(call_id="a"), "call-null-id": call(call_id=None),
    "call-float-id": call(call_id=1.5), "notification": call(call_id=...),
    "unknown-method": call("shout"), "positional-params": call(params=[1, 2]),
    "bad-params": call(params={"sort": 5}), "unknown-param": call(params={"nope": 1}),
    "extra-member": call(extra=1),
    "object-id": call(call_id={}), "list-id": call(call_id=[1]), "boolean-id": call(call_id=True),
    "string-params": call(params="x"), "number-params": call(params=1), "null-params": call(params=None),
    "boolean-params": call(params=False), "no-method": {"jsonrpc": "2.0", "id": 1},
    "no-version": {"method": "index", "id": 1}, "old-version": call(jsonrpc="1.0"),
    "number-method": call(method=5), "empty-object": {},
    "batch": [call(), call("shout", call_id=2)], "batch-of-junk": [1, "x", None, {}],
    "empty-batch": [], "batch-over-limit": [call(call_id=i) for i in range(101)],
    "batch-at-limit": [call(call_id=i) for i in range(100)],
    "string": "call", "number": 1, "true": True, "null": None,
}


@pytest.mark.parametrize("name", list(BODIES))
def test_rpc_request_schema_refuses_exactly_what_the_server_refuses_with_400(client, name):
    body = BODIES[name]
    refused = post(client, SINGLE, body).status_code == 400
    assert refused == (not validator("RpcRequest").is_valid(body)), (name, body)


@pytest.mark.parametrize("name", list(BODIES))
def test_rpc_batch_schema_refuses_exactly_what_the_server_refuses_with_400(client, name):
    body = BODIES[name]
    refused = post(client, BATCH, body).status_code == 400
    assert refused == (not validator("RpcBatch").is_valid(body)), (name, body)


def test_a_batch_on_its_own_operation_answers_as_on_the_rpc_endpoint(client, tree):
    entry = tree["entries"][0]["id"]
    body = [call("create", new(entry), 1), call("index", {"filter": {"entry_id": entry}}, 2),
            call("shout", {}, 3), "junk", call("index", {}, ...)]
    for path in (SINGLE, BATCH):
        resp = post(client, path, body)
        assert resp.status_code == 200, resp.text
        replies = resp.json()
        assert [r["id"] for r in replies] == [1, 2, 3, None]  # the notification has no reply
        for reply in replies:
            envelope(reply)
        assert ok(replies[0])["entry_id"] == entry
        assert ok(replies[1])["data"]
        failed(replies[2], -32601, 3)
        failed(replies[3], -32600, None)


def test_the_batch_operation_refuses_a_single_call_and_says_where_it_goes(client):
    resp = post(client, BATCH, call())
    assert resp.status_code == 400
    reply = resp.json()
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    assert "/annotations/_rpc" in reply["error"]["data"]["detail"]


def test_the_batch_operation_is_atomic_on_request(client, tree):
    entry = tree["entries"][0]["id"]
    before = ok(post(client, SINGLE, call("index", {"filter": {"entry_id": entry}})).json())["data"]
    body = [call("create", new(entry), 1), call("update", {"id": "0193a1b2-0000-7000-8000-000000000000",
                                                           "metadata": {}}, 2)]
    resp = client.post(BATCH + "?atomic=true", content=json.dumps(body),
                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {token()}"})
    first, second = resp.json()
    failed(first, -32000, 1)
    assert second["error"]["code"] == -32004
    index = post(client, SINGLE, call("index", {"filter": {"entry_id": entry}})).json()
    assert ok(index)["data"] == before  # the create rolled back


def test_notifications_alone_get_204_on_the_batch_operation(client):
    assert post(client, BATCH, [call(call_id=...)]).status_code == 204


def test_the_batch_operation_needs_a_token(client):
    resp = client.post(BATCH, content=json.dumps([call()]), headers={"Content-Type": "application/json"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == -32001
