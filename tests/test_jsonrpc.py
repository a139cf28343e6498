"""JSON-RPC 2.0 on ``POST /annotations/_rpc`` (DESIGN §5): every example of section 7 of
https://www.jsonrpc.org/specification mapped onto our methods, the envelope's edge cases, each
method, batches in continue and atomic mode, authentication, and a real client (jsonrpcclient).

Every reply is checked against the specification's response object; the app itself validates its
responses against openapi.yaml (a reply that does not conform would come back as a 500)."""

import copy
import json
import logging
import time
import uuid

import jsonrpcclient
import pytest

from dataset_api import store
from dataset_api.db import db
from dataset_api.jsonrpc import bulk, methods, protocol
from dataset_api.jsonrpc.protocol import Bulk
from dataset_api.models import AnnotationRevision, Entry
from dataset_api.resources.annotations import ANNOTATIONS
from tests import factories
from tests.conftest import Api, app_client, token

RPC = "/annotations/_rpc"
JSON = "application/json"
CODES = {-32700: "Parse error", -32600: "Invalid Request", -32601: "Method not found",
         -32602: "Invalid params", -32603: "Internal error"}
ROLLED_BACK = (-32000, "batch rolled back")


# --- helpers ----------------------------------------------------------------------------------

def post(client, payload=None, *, raw=None, bearer="default", query="", headers=None):
    """POST ``payload`` (serialised as JSON) or the bytes/str ``raw``; return the HTTP response."""
    hdrs = {"Content-Type": JSON}
    bearer = token() if bearer == "default" else bearer
    if bearer:
        hdrs["Authorization"] = f"Bearer {bearer}"
    hdrs.update(headers or {})
    content = raw if raw is not None else json.dumps(payload)
    resp = client.post(RPC + query, content=content, headers=hdrs)
    assert resp.status_code != 500, resp.text
    return resp


def envelope(reply):
    """Check one response object against the specification (section 5) and return it."""
    assert isinstance(reply, dict), reply
    assert reply.get("jsonrpc") == "2.0", reply
    assert "id" in reply, reply
    assert isinstance(reply["id"], str | int | float | type(None)) and not isinstance(reply["id"], bool)
    assert ("result" in reply) != ("error" in reply), reply
    assert set(reply) <= {"jsonrpc", "result", "error", "id"}, reply
    if "error" in reply:
        error = reply["error"]
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool), error
        assert isinstance(error["message"], str) and error["message"], error
        assert set(error) <= {"code", "message", "data"}, error
    return reply


def replies(resp, status=200):
    """The reply (object) or replies (array) of ``resp``, after checking status and media type."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].split(";")[0] == JSON
    body = resp.json()
    if isinstance(body, list):
        assert body, "a batch reply is never an empty array"
        return [envelope(r) for r in body]
    return envelope(body)


def nothing(resp):
    """Only notifications were sent: 204 and no body at all."""
    assert resp.status_code == 204, resp.text
    assert resp.content == b""


def call(client, method, params=None, call_id=1, **kw):
    """A single call; return its reply object (HTTP 200)."""
    payload = {"jsonrpc": "2.0", "method": method, "id": call_id}
    if params is not None:
        payload["params"] = params
    reply = replies(post(client, payload, **kw))
    assert reply["id"] == call_id
    return reply


def ok(reply):
    assert "result" in reply, reply
    return reply["result"]


def failed(reply, code, call_id, message=None):
    """Assert that ``reply`` is the error ``code`` (with its specified message) for ``call_id``."""
    assert "error" in reply, reply
    assert reply["error"]["code"] == code, reply
    assert reply["error"]["message"] == (message or CODES.get(code) or reply["error"]["message"])
    assert reply["id"] == call_id, reply
    assert "Traceback" not in json.dumps(reply)
    return reply["error"].get("data")


def pointers(data):
    return {e.get("pointer") or e.get("parameter") for e in data["errors"]}


def new(entry_id, **extra):
    return {"entry_id": entry_id, "dimensions": {"x": 1, "y": 2}, "annotation": {"label": "cat"},
            **extra}


def count(api, **filters):
    """The number of annotations GET /annotations counts (optionally filtered)."""
    query = "".join(f"&filter[{k}]={v}" for k, v in filters.items())
    resp = api.get(f"/annotations?count=true{query}")
    assert resp.status_code == 200, resp.text
    return resp.json()["meta"]["count"]


def http_flat(api, annotation_id):
    """The annotation as GET /annotations/{id} renders it, flattened like a JSON-RPC result."""
    resp = api.get(f"/annotations/{annotation_id}")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    return {"id": data["id"], **data["attributes"]}


@pytest.fixture
def entry_id(tree):
    return tree["entries"][0]["id"]


# --- section 7 of the specification, mapped onto our methods -----------------------------------

def test_spec_positional_params_are_invalid_params(client, tree):
    # --> {"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}
    reply = call(client, "show", [tree["annotation"]["id"]], call_id=1)
    data = failed(reply, -32602, 1)
    assert data["errors"], data
    reply = call(client, "create", [tree["entries"][0]["id"], {"x": 1}, {"l": 1}], call_id=2)
    failed(reply, -32602, 2)


def test_spec_subtract_is_method_not_found(client, tree):
    failed(call(client, "subtract", [42, 23], call_id=1), -32601, 1)
    failed(call(client, "subtract", {"subtrahend": 23, "minuend": 42}, call_id=3), -32601, 3)


def test_spec_named_params(client, tree, entry_id):
    # --> {"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}
    annotation = tree["annotation"]
    shown = ok(call(client, "show", {"id": annotation["id"]}, call_id=3))
    assert shown == {"id": annotation["id"], **annotation["attributes"]}
    # the order of named params does not matter (id 4 in the specification)
    created = ok(call(client, "create", {"annotation": {"l": 2}, "dimensions": {"w": 3},
                                         "entry_id": entry_id}, call_id=4))
    assert created["dimensions"] == {"w": 3} and created["annotation"] == {"l": 2}


def test_spec_notifications_run_and_get_no_reply(client, api, tree):
    # --> {"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}
    annotation_id = tree["annotation"]["id"]
    nothing(post(client, {"jsonrpc": "2.0", "method": "update",
                          "params": {"id": annotation_id, "annotation": {"label": "owl"}}}))
    assert http_flat(api, annotation_id)["annotation"] == {"label": "owl"}
    # --> {"jsonrpc": "2.0", "method": "foobar"}
    nothing(post(client, {"jsonrpc": "2.0", "method": "foobar"}))


def test_spec_non_existent_method(client, tree):
    # --> {"jsonrpc": "2.0", "method": "foobar", "id": "1"}
    resp = post(client, {"jsonrpc": "2.0", "method": "foobar", "id": "1"})
    failed(replies(resp, 200), -32601, "1")


def test_spec_invalid_json(client):
    # --> {"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]
    resp = post(client, raw='{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
    failed(replies(resp, 400), -32700, None)


@pytest.mark.parametrize("raw", [b"", b"   ", b"\xff\xfe{}", b'{"jsonrpc": "2.0", "method": "show", "id": 1',
                                 b"NaN-ish", b'"\\ud800'], ids=["empty", "blank", "not-utf8",
                                                                 "truncated", "garbage", "bad-escape"])
def test_unparseable_bodies_are_parse_errors(client, raw):
    failed(replies(post(client, raw=raw), 400), -32700, None)


@pytest.mark.parametrize("raw", [
    '{"jsonrpc": "2.0", "method": "show", "params": {"id": "x"}, "id": NaN}',
    '{"jsonrpc": "2.0", "method": "show", "params": {"id": "x"}, "id": Infinity}',
    '{"jsonrpc": "2.0", "method": "create", "params": {"entry_id": "x", "dimensions": {"a": -Infinity}, '
    '"annotation": {}}, "id": 1}',
    '[{"jsonrpc": "2.0", "method": "index", "id": NaN}]',
], ids=["nan-id", "infinity-id", "infinity-param", "nan-in-batch"])
def test_non_json_number_tokens_are_parse_errors(client, raw):
    """NaN and Infinity are not JSON (RFC 8259): a parse error, and never echoed back (an id of NaN
    would make the reply itself unreadable for any JSON parser)."""
    resp = post(client, raw=raw)
    assert "NaN" not in resp.text and "Infinity" not in resp.text, resp.text
    failed(replies(resp, 400), -32700, None)


def test_out_of_range_numbers_are_refused_not_internal_errors(client, api, entry_id):
    """1e400 is JSON syntax but no double can hold it: refused as a parse error or invalid params,
    never an internal error, and nothing is written."""
    before = count(api)
    raw = json.dumps({"jsonrpc": "2.0", "method": "create", "id": 1,
                      "params": new(entry_id, dimensions={"a": "HUGE"})}).replace('"HUGE"', "1e400")
    resp = post(client, raw=raw)
    reply = replies(resp, resp.status_code)
    assert (resp.status_code, reply["error"]["code"]) in ((400, -32700), (200, -32602)), reply
    assert count(api) == before


def test_spec_invalid_request_object(client):
    # --> {"jsonrpc": "2.0", "method": 1, "params": "bar"}
    resp = post(client, {"jsonrpc": "2.0", "method": 1, "params": "bar"})
    failed(replies(resp, 400), -32600, None)


def test_spec_batch_with_invalid_json(client):
    raw = ('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
           '{"jsonrpc": "2.0", "method"]')
    reply = replies(post(client, raw=raw), 400)
    assert isinstance(reply, dict), "a parse error is one reply, not an array"
    failed(reply, -32700, None)


def test_spec_empty_array(client):
    reply = replies(post(client, raw="[]"), 400)
    assert isinstance(reply, dict), "an empty batch gets one reply, not an array"
    failed(reply, -32600, None)


def test_spec_invalid_batch_of_one(client):
    out = replies(post(client, [1]), 200)
    assert isinstance(out, list) and len(out) == 1
    failed(out[0], -32600, None)


def test_spec_invalid_batch(client):
    out = replies(post(client, [1, 2, 3]), 200)
    assert len(out) == 3
    for reply in out:
        failed(reply, -32600, None)


def test_spec_rpc_call_batch(client, api, tree, entry_id):
    annotation_id = tree["annotation"]["id"]
    before = count(api)
    batch = [
        {"jsonrpc": "2.0", "method": "show", "params": {"id": annotation_id}, "id": "1"},  # sum
        {"jsonrpc": "2.0", "method": "create", "params": new(entry_id)},  # notify_hello
        {"jsonrpc": "2.0", "method": "update", "params": {"id": annotation_id, "metadata": {"n": 19}},
         "id": "2"},  # subtract
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "index", "params": {"filter": {"entry_id": entry_id}}, "id": "9"},
    ]
    out = replies(post(client, batch), 200)
    assert [r["id"] for r in out] == ["1", "2", None, "5", "9"]
    assert ok(out[0])["id"] == annotation_id
    assert ok(out[1])["metadata"] == {"n": 19}
    failed(out[2], -32600, None)
    failed(out[3], -32601, "5")
    listed = ok(out[4])
    assert len(listed["data"]) == 2  # the tree's annotation and the notification's
    assert {a["metadata"].get("n") for a in listed["data"]} == {19, None}
    assert count(api) == before + 1


def test_spec_batch_of_notifications(client, api, tree, entry_id):
    before = count(api)
    batch = [{"jsonrpc": "2.0", "method": "create", "params": new(entry_id, metadata={"i": i})}
             for i in range(2)]
    nothing(post(client, batch))
    assert count(api) == before + 2


# --- more of the envelope -------------------------------------------------------------------------

def test_jsonrpc_1_0_is_an_invalid_request(client, tree):
    resp = post(client, {"jsonrpc": "1.0", "method": "show", "params": {"id": tree["annotation"]["id"]},
                         "id": 7})
    reply = replies(resp, 400)
    assert reply["error"]["code"] == -32600 and reply["error"]["message"] == "Invalid Request"
    # the id could be read: the reply carries it (the specification demands null only when it cannot)
    assert reply["id"] == 7


@pytest.mark.parametrize("payload", [
    {"method": "show", "params": {"id": "x"}, "id": 1},
    {"jsonrpc": 2.0, "method": "show", "params": {"id": "x"}, "id": 1},
    {"jsonrpc": "2.0", "params": {"id": "x"}, "id": 1},
    {"jsonrpc": "2.0", "method": None, "id": 1},
    {"jsonrpc": "2.0", "method": "show", "params": None, "id": 1},
    {"jsonrpc": "2.0", "method": "show", "params": "x", "id": 1},
    {"jsonrpc": "2.0", "method": "show", "params": 5, "id": 1},
], ids=["no-jsonrpc", "numeric-jsonrpc", "no-method", "null-method", "null-params", "string-params",
        "number-params"])
def test_malformed_request_objects(client, payload):
    reply = replies(post(client, payload), 400)
    assert reply["error"]["code"] == -32600 and reply["error"]["message"] == "Invalid Request"
    assert reply["id"] in (1, None)


@pytest.mark.parametrize("bad_id", [{"a": 1}, [1], True, False], ids=["object", "array", "true", "false"])
def test_id_of_the_wrong_type(client, tree, bad_id):
    payload = {"jsonrpc": "2.0", "method": "show", "params": {"id": tree["annotation"]["id"]}, "id": bad_id}
    failed(replies(post(client, payload), 400), -32600, None)
    # in a batch: its own -32600 with id null, the valid member still runs
    good = {**payload, "id": "good"}
    out = replies(post(client, [payload, good]), 200)
    failed(out[0], -32600, None)
    assert ok(out[1])["id"] == tree["annotation"]["id"] and out[1]["id"] == "good"


@pytest.mark.parametrize("call_id", ["abc", 0, -5, 2**53, 1.5, ""], ids=repr)
def test_ids_are_echoed(client, tree, call_id):
    reply = call(client, "show", {"id": tree["annotation"]["id"]}, call_id=call_id)
    assert ok(reply)["id"] == tree["annotation"]["id"]


def test_null_id_is_a_call_not_a_notification(client, tree):
    reply = replies(post(client, {"jsonrpc": "2.0", "method": "show",
                                  "params": {"id": tree["annotation"]["id"]}, "id": None}))
    assert reply["id"] is None and ok(reply)["id"] == tree["annotation"]["id"]


@pytest.mark.parametrize("method", ["rpc.discover", "rpc.show", "rpc."])
def test_rpc_prefixed_methods_are_not_found(client, method):
    failed(call(client, method, {}, call_id=1), -32601, 1)


@pytest.mark.parametrize("method", ["Show", "show ", "__init__", "translate", "METHODS", ""])
def test_only_the_five_methods_exist(client, method):
    failed(call(client, method, {"id": "x"}, call_id=1), -32601, 1)


@pytest.mark.parametrize("notification", [
    {"jsonrpc": "2.0", "method": "create", "params": {"entry_id": "nope"}},
    {"jsonrpc": "2.0", "method": "create", "params": [1, 2, 3]},
    {"jsonrpc": "2.0", "method": "show", "params": {"id": "00000000-0000-0000-0000-000000000000"}},
    {"jsonrpc": "2.0", "method": "nope"},
    {"jsonrpc": "2.0", "method": "rpc.nope", "params": {}},
], ids=["bad-params", "positional", "not-found", "unknown-method", "rpc-prefix"])
def test_failing_notifications_get_no_reply(client, api, tree, notification):
    before = count(api)
    nothing(post(client, notification))
    nothing(post(client, [notification, notification]))
    # next to a call, only the call is answered
    out = replies(post(client, [notification, {"jsonrpc": "2.0", "method": "index", "id": 1}]))
    assert len(out) == 1 and out[0]["id"] == 1
    assert count(api) == before


def test_default_batch_limit(client, tree):
    show = {"jsonrpc": "2.0", "method": "show", "params": {"id": tree["annotation"]["id"]}}
    out = replies(post(client, [{**show, "id": i} for i in range(100)]))
    assert [r["id"] for r in out] == list(range(100)) and all("result" in r for r in out)
    data = failed(replies(post(client, [{**show, "id": i} for i in range(101)]), 400), -32600, None)
    assert data["batch_limit"] == 100


def test_configured_batch_limit(tmp_path):
    with app_client(tmp_path, rpc_batch_limit=5) as client:
        missing = {"jsonrpc": "2.0", "method": "show",
                   "params": {"id": "00000000-0000-0000-0000-000000000000"}}
        out = replies(post(client, [{**missing, "id": i} for i in range(5)]))
        assert len(out) == 5
        for i, reply in enumerate(out):
            failed(reply, -32004, i, "Not found")
        resp = post(client, [{**missing, "id": i} for i in range(6)])
        data = failed(replies(resp, 400), -32600, None)
        assert data["batch_limit"] == 5
        # notifications count as calls too
        resp = post(client, [missing] * 6)
        assert failed(replies(resp, 400), -32600, None)["batch_limit"] == 5


def test_body_over_the_limit_is_a_jsonrpc_413(tmp_path):
    with app_client(tmp_path, max_body_bytes=2000) as client:
        payload = {"jsonrpc": "2.0", "method": "show", "params": {"id": "x" * 3000}, "id": 1}
        reply = replies(post(client, payload), 413)
        assert reply["error"]["code"] == -32600 and reply["id"] is None
        assert "2000" in reply["error"]["data"]["detail"]


# --- the methods ----------------------------------------------------------------------------------

def test_create(client, api, tree, entry_id):
    bearer = token(account_id=4, email="rpc-maker@example.com")
    reply = call(client, "create", new(entry_id, metadata={"tool": "pen"}), call_id="c", bearer=bearer)
    created = ok(reply)
    assert uuid.UUID(created["id"])
    assert created["entry_id"] == entry_id
    assert created["project_id"] == tree["project"]["id"]
    assert created["dataset_id"] == tree["dataset"]["id"]
    assert created["created_by_email"] == "rpc-maker@example.com"
    assert created["dimensions"] == {"x": 1, "y": 2} and created["annotation"] == {"label": "cat"}
    assert created["metadata"] == {"tool": "pen"}
    assert created == http_flat(api, created["id"])  # the same record the JSON:API serves
    assert ok(call(client, "create", new(entry_id)))["metadata"] == {}


def test_create_rejects_read_only_params(client, tree, entry_id):
    params = new(entry_id, project_id=tree["project"]["id"])
    data = failed(call(client, "create", params, call_id=1), -32602, 1)
    assert "/params/project_id" in pointers(data)


def test_create_with_a_client_id(client, api, tree, entry_id):
    chosen = str(uuid.uuid4())
    created = ok(call(client, "create", new(entry_id, id=chosen)))
    assert created["id"] == chosen
    assert http_flat(api, chosen)["entry_id"] == entry_id
    failed(call(client, "create", new(entry_id, id=chosen), call_id=2), -32009, 2, "Conflict")
    failed(call(client, "create", new(entry_id, id=tree["annotation"]["id"]), call_id=3), -32009, 3)
    assert count(api, id=chosen) == 1
    assert count(api) == 2
    # null means "no client id": the server picks one
    assert uuid.UUID(ok(call(client, "create", new(entry_id, id=None)))["id"])


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "01a2237c-0f86-7580-b158-06319cdbebe4-x", 5, {"a": 1}],
                         ids=["word", "empty", "uuid-plus", "number", "object"])
def test_create_rejects_a_client_id_that_is_not_a_uuid(client, api, entry_id, bad):
    """As POST /annotations does (data.id must match openapi.yaml's Uuid pattern)."""
    before = count(api)
    data = failed(call(client, "create", new(entry_id, id=bad), call_id=3), -32602, 3)
    assert "/params/id" in pointers(data)
    assert count(api) == before


def test_create_on_a_missing_entry(client, api):
    before = count(api)
    params = new(str(uuid.uuid4()))
    failed(call(client, "create", params, call_id=1), -32004, 1, "Not found")
    assert count(api) == before


@pytest.mark.parametrize("params, pointer", [
    ({"dimensions": "wide"}, "/params/dimensions"),
    ({"annotation": [1, 2]}, "/params/annotation"),
    ({"metadata": 5}, "/params/metadata"),
    ({"entry_id": 12}, "/params/entry_id"),
    ({"dimensions": None}, "/params/dimensions"),
    ({"colour": "red"}, "/params/colour"),
], ids=["dimensions", "annotation", "metadata", "entry_id", "null-dimensions", "unknown"])
def test_create_invalid_params(client, api, entry_id, params, pointer):
    before = count(api)
    data = failed(call(client, "create", {**new(entry_id), **params}, call_id=9), -32602, 9)
    assert pointer in pointers(data), data
    assert all(e["detail"] for e in data["errors"])
    assert count(api) == before


def test_create_missing_params_are_all_listed(client, entry_id):
    data = failed(call(client, "create", {"entry_id": entry_id}, call_id=1), -32602, 1)
    assert {"/params/dimensions", "/params/annotation"} <= pointers(data)
    data = failed(call(client, "create", None, call_id=2), -32602, 2)  # no params at all
    assert {"/params/entry_id", "/params/dimensions", "/params/annotation"} <= pointers(data)


def test_show(client, api, tree):
    annotation_id = tree["annotation"]["id"]
    assert ok(call(client, "show", {"id": annotation_id})) == http_flat(api, annotation_id)
    for missing in (str(uuid.uuid4()), "not-a-uuid", ""):
        failed(call(client, "show", {"id": missing}, call_id=2), -32004, 2, "Not found")
    data = failed(call(client, "show", {}, call_id=3), -32602, 3)
    assert "/params/id" in pointers(data)
    data = failed(call(client, "show", {"id": annotation_id, "include": "entry"}, call_id=4), -32602, 4)
    assert "/params/include" in pointers(data)


def test_update(client, api, tree):
    annotation_id = tree["annotation"]["id"]
    before = http_flat(api, annotation_id)
    time.sleep(0.002)
    updated = ok(call(client, "update", {"id": annotation_id, "annotation": {"label": "owl"},
                                         "metadata": {"tool": "lasso"}}))
    assert updated["annotation"] == {"label": "owl"} and updated["metadata"] == {"tool": "lasso"}
    assert updated["dimensions"] == before["dimensions"]  # untouched
    assert updated["created_at"] == before["created_at"] and updated["updated_at"] > before["updated_at"]
    assert updated == http_flat(api, annotation_id)
    # only the id: nothing changes, and it is no error
    assert ok(call(client, "update", {"id": annotation_id}))["annotation"] == {"label": "owl"}


def test_update_errors(client, api, tree):
    annotation_id = tree["annotation"]["id"]
    failed(call(client, "update", {"id": str(uuid.uuid4()), "metadata": {}}, call_id=1), -32004, 1,
           "Not found")
    data = failed(call(client, "update", {"id": annotation_id, "dimensions": 3}, call_id=2), -32602, 2)
    assert "/params/dimensions" in pointers(data)
    data = failed(call(client, "update", {"id": annotation_id, "entry_id": tree["entries"][1]["id"]},
                       call_id=3), -32602, 3)
    assert "/params/entry_id" in pointers(data)
    data = failed(call(client, "update", {"annotation": {}}, call_id=4), -32602, 4)
    assert "/params/id" in pointers(data)
    assert http_flat(api, annotation_id)["entry_id"] == tree["entries"][0]["id"]


def test_delete(client, api, tree):
    annotation_id = tree["annotation"]["id"]
    reply = call(client, "delete", {"id": annotation_id})
    assert "result" in reply and reply["result"] is None
    failed(call(client, "show", {"id": annotation_id}, call_id=2), -32004, 2, "Not found")
    assert api.get(f"/annotations/{annotation_id}").status_code == 404
    failed(call(client, "delete", {"id": annotation_id}, call_id=3), -32004, 3, "Not found")


@pytest.fixture
def spread(client, tree):
    """Annotations spread over the tree's three entries (1 + 2 + 3 + the tree's own)."""
    made = []
    for i, entry in enumerate(tree["entries"]):
        for j in range(i + 1):
            made.append(ok(call(client, "create", new(entry["id"], metadata={"rank": 10 * i + j},
                                                      dimensions={"i": i}))))
    return made


def test_index_filters_like_http(client, api, tree, spread):
    e0, e1, e2 = (e["id"] for e in tree["entries"])
    result = ok(call(client, "index", {"filter": {"entry_id": e1}}))
    assert {a["id"] for a in result["data"]} == {a["id"] for a in spread if a["entry_id"] == e1}
    assert all(a["entry_id"] == e1 for a in result["data"]) and len(result["data"]) == 2
    http = api.get(f"/annotations?filter[entry_id__in]={e1},{e2}&sort=created_at").json()["data"]
    result = ok(call(client, "index", {"filter": {"entry_id__in": [e1, e2]}, "sort": "created_at"}))
    assert [a["id"] for a in result["data"]] == [a["id"] for a in http] and len(http) == 5
    result = ok(call(client, "index", {"filter": {"metadata": {"rank": 21}}}))
    assert [a["metadata"] for a in result["data"]] == [{"rank": 21}]
    result = ok(call(client, "index", {"filter": {"dataset_id": tree["dataset"]["id"],
                                                  "entry_id__neq": e0}}))
    assert len(result["data"]) == 5
    result = ok(call(client, "index", {"filter": {"metadata__exists": True}}))
    assert len(result["data"]) == 7  # every annotation has a metadata object


def test_index_sort_page_count(client, api, tree, spread):
    result = ok(call(client, "index", {}))
    assert len(result["data"]) == 7 and "count" not in result["meta"]
    assert result["meta"]["page"]["has_more"] is False
    result = ok(call(client, "index", {"sort": "-created_at", "page": {"size": 2, "number": 2},
                                       "count": True}))
    everything = api.get("/annotations").json()["data"]
    newest_first = sorted(everything, key=lambda a: a["attributes"]["created_at"], reverse=True)
    assert newest_first[-1]["id"] == tree["annotation"]["id"]
    assert [a["id"] for a in result["data"]] == [a["id"] for a in newest_first[2:4]]
    assert result["meta"]["count"] == 7
    assert result["meta"]["page"] == {"number": 2, "size": 2, "has_more": True}
    result = ok(call(client, "index", {"sort": ["-created_at"], "page": {"size": 2, "number": 4}}))
    assert [a["id"] for a in result["data"]] == [newest_first[6]["id"]]
    assert result["meta"]["page"]["has_more"] is False
    result = ok(call(client, "index", {"filter": {"entry_id": spread[0]["entry_id"]}, "count": True}))
    assert result["meta"]["count"] == 2 == count(api, entry_id=spread[0]["entry_id"])
    assert ok(call(client, "index", {"count": False}))["meta"].get("count") is None


@pytest.mark.parametrize("params, where", [
    ({"filter": {"nope": 1}}, "filter[nope]"),
    ({"filter": {"entry_id__between": "a"}}, "filter[entry_id__between]"),
    ({"filter": ["entry_id", "x"]}, "/params/filter"),
    ({"sort": "nope"}, "sort"),
    ({"page": {"size": 0}}, "page[size]"),
    ({"page": {"size": 1001}}, "page[size]"),
    ({"page": {"number": "abc"}}, "page[number]"),
    ({"page": 3}, "/params/page"),
    ({"filter": {"created_at__gt": "yesterday"}}, "filter[created_at__gt]"),
    ({"limit": 3}, "/params/limit"),
], ids=["unknown-filter", "unknown-operator", "filter-array", "sort", "size-0", "size-1001",
        "number", "page-number", "bad-timestamp", "unknown-param"])
def test_index_invalid_params(client, tree, params, where):
    data = failed(call(client, "index", params, call_id="i"), -32602, "i")
    assert where in pointers(data), data


# --- batches: continue and atomic -----------------------------------------------------------------

def ten_creates(entry_id, failing=4):
    """Ten create calls with ids "c0".."c9"; the ``failing`` one names an entry that does not exist."""
    return [{"jsonrpc": "2.0", "method": "create", "id": f"c{i}",
             "params": new(str(uuid.uuid4()) if i == failing else entry_id, metadata={"i": i})}
            for i in range(10)]


def test_batch_continue_mode(client, api, entry_id):
    before = count(api)
    out = replies(post(client, ten_creates(entry_id)))
    assert [r["id"] for r in out] == [f"c{i}" for i in range(10)]
    failed(out[4], -32004, "c4", "Not found")
    written = [ok(r) for i, r in enumerate(out) if i != 4]
    assert [a["metadata"]["i"] for a in written] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert count(api) == before + 9
    for annotation in written:
        assert http_flat(api, annotation["id"]) == annotation
    assert count(api, metadata='{"i":4}') == 0


def test_batch_continue_mode_sees_its_own_writes(client, api, entry_id):
    chosen = str(uuid.uuid4())
    batch = [{"jsonrpc": "2.0", "method": "create", "params": new(entry_id, id=chosen), "id": 1},
             {"jsonrpc": "2.0", "method": "create", "params": new(entry_id, id=chosen), "id": 2},
             {"jsonrpc": "2.0", "method": "update", "params": {"id": chosen, "metadata": {"v": 2}}, "id": 3},
             {"jsonrpc": "2.0", "method": "show", "params": {"id": chosen}, "id": 4},
             {"jsonrpc": "2.0", "method": "delete", "params": {"id": chosen}, "id": 5},
             {"jsonrpc": "2.0", "method": "show", "params": {"id": chosen}, "id": 6}]
    out = replies(post(client, batch))
    assert ok(out[0])["id"] == chosen
    failed(out[1], -32009, 2, "Conflict")
    assert ok(out[2])["metadata"] == {"v": 2} and ok(out[3])["metadata"] == {"v": 2}
    assert ok(out[4]) is None
    failed(out[5], -32004, 6, "Not found")
    assert count(api, id=chosen) == 0


def test_batch_atomic_mode_rolls_back(client, api, entry_id):
    before = count(api)
    out = replies(post(client, ten_creates(entry_id), query="?atomic=true"))
    assert [r["id"] for r in out] == [f"c{i}" for i in range(10)]
    failed(out[4], -32004, "c4", "Not found")
    for i, reply in enumerate(out):
        if i != 4:
            failed(reply, *ROLLED_BACK[:1], f"c{i}", ROLLED_BACK[1])
    assert count(api) == before


def test_batch_atomic_mode_commits_when_all_succeed(client, api, entry_id):
    before = count(api)
    batch = ten_creates(entry_id, failing=None)
    batch.append({"jsonrpc": "2.0", "method": "create", "params": new(entry_id)})  # a notification
    out = replies(post(client, batch, query="?atomic=1"))
    assert [r["id"] for r in out] == [f"c{i}" for i in range(10)]
    assert all("result" in r for r in out)
    assert count(api) == before + 11


def test_batch_atomic_mode_invalid_member_and_notifications(client, api, entry_id):
    before = count(api)
    batch = [{"jsonrpc": "2.0", "method": "create", "params": new(entry_id), "id": 1},
             {"jsonrpc": "2.0", "method": "create", "params": new(entry_id)},  # notification
             {"foo": "boo"},
             {"jsonrpc": "2.0", "method": "create", "params": new(entry_id), "id": 2}]
    out = replies(post(client, batch, query="?atomic=true"))
    assert [r["id"] for r in out] == [1, None, 2]
    failed(out[0], ROLLED_BACK[0], 1, ROLLED_BACK[1])
    failed(out[1], -32600, None)
    failed(out[2], ROLLED_BACK[0], 2, ROLLED_BACK[1])
    assert count(api) == before
    # a failing notification rolls the batch back too, and still gets no reply
    batch = [{"jsonrpc": "2.0", "method": "create", "params": new(entry_id), "id": 1},
             {"jsonrpc": "2.0", "method": "create", "params": new(str(uuid.uuid4()))}]
    out = replies(post(client, batch, query="?atomic=true"))
    assert len(out) == 1
    failed(out[0], ROLLED_BACK[0], 1, ROLLED_BACK[1])
    assert count(api) == before


def test_atomic_false_is_continue_mode(client, api, entry_id):
    before = count(api)
    out = replies(post(client, ten_creates(entry_id), query="?atomic=false"))
    assert sum("result" in r for r in out) == 9
    assert count(api) == before + 9


def test_single_call_in_atomic_mode(client, api, entry_id):
    reply = replies(post(client, {"jsonrpc": "2.0", "method": "create", "params": new(entry_id), "id": 1},
                         query="?atomic=true"))
    assert ok(reply)["entry_id"] == entry_id
    reply = replies(post(client, {"jsonrpc": "2.0", "method": "show", "params": {"id": "x"}, "id": 2},
                         query="?atomic=true"))
    failed(reply, -32004, 2, "Not found")


def test_nul_characters_do_not_break_the_batch(client, api, entry_id):
    """A string PostgreSQL cannot store (U+0000) fails its own call only, as invalid params."""
    before = count(api)
    batch = [{"jsonrpc": "2.0", "method": "create", "id": 1,
              "params": new(entry_id, annotation={"label": "a\x00b"})},
             {"jsonrpc": "2.0", "method": "create", "params": new(entry_id), "id": 2}]
    out = replies(post(client, batch))
    data = failed(out[0], -32602, 1)
    assert "/params/annotation/label" in pointers(data)
    assert ok(out[1])["entry_id"] == entry_id
    assert count(api) == before + 1


# --- batches of creates: the set-based path answers exactly as one call at a time ---------------------

ANNOTATOR_ID = 50
ANNOTATOR = token(account_id=ANNOTATOR_ID, email="ann@example.com", role="user")
NO_ENTRY = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
ODD_JSON = {"b": 1, "a": [1.0, 1e20, -0.0, 2**70, {"z": None, "": "é"}], "ünï": "\U0001F426", "aa": {}}


@pytest.fixture
def world(api, client, tree):
    """The tree plus an annotator (account 50) and entries in every state a create can meet:
    ``assigned`` to the annotator, ``open`` (unassigned at annotate), ``taken`` (assigned to the
    admin), ``done`` (completed by the annotator, in a dataset that skips review)."""
    factories.member(api, tree["project"], ANNOTATOR_ID, email="ann@example.com")
    skip = factories.dataset(api, tree["project"], "No review", sample_rate=0)
    done, taken = (factories.entry(api, skip, f"{name}.png")["id"] for name in ("done", "taken"))
    assigned, open_ = tree["entries"][1]["id"], tree["entries"][2]["id"]
    for entry in (assigned, done):
        factories.expect(factories.assign(api, entry, ANNOTATOR_ID), 200)
    factories.expect(factories.submit(Api(client, ANNOTATOR), done), 200)
    factories.expect(factories.select(api, taken), 200)
    assert api.get(f"/entries/{done}").json()["data"]["attributes"]["status"] == "completed"
    return {"assigned": assigned, "open": open_, "taken": taken, "done": done}


def creates(world, specs, client_ids):
    """A batch from ``specs``: (entry key or id, extra params) pairs, or a whole call (a dict).
    ``client_ids[k]`` stands where a spec's params say ``{"id": k}`` (an int)."""
    batch = []
    for i, spec in enumerate(specs):
        if isinstance(spec, dict):  # a copy: MIXED is shared by the tests
            batch.append({"jsonrpc": "2.0", "method": "create", "id": f"k{i}", **copy.deepcopy(spec)})
            continue
        entry, extra = spec
        params = {**new(world.get(entry, entry), metadata={"i": i}), **extra}
        if isinstance(params.get("id"), int):
            params["id"] = client_ids[params["id"]]
        batch.append({"jsonrpc": "2.0", "method": "create", "params": params, "id": f"k{i}"})
    return batch


MIXED = [
    ("assigned", {}),
    ("assigned", {"dimensions": "wide"}),  # invalid params
    (NO_ENTRY, {}),  # no such entry
    ("open", {}),  # the annotator may see it, not annotate it
    ("done", {}),  # completed: 409
    ("taken", {}),  # hidden from the annotator
    ("assigned", {"annotation": ODD_JSON, "metadata": {"zz": 1, "a": 2}}),
    {"params": {"entry_id": "ENTRY", "dimensions": {}, "annotation": {}}},  # made a notification
    ("assigned", {"colour": "red"}),  # unknown parameter
    {"params": ["x", {}, {}]},  # positional
    ("assigned", {"id": 0}),  # a client id
    {"params": {"entry_id": "ENTRY", "dimensions": {}}},  # 'annotation' is missing
    ("ASSIGNED", {}),  # the upper-case id: a valid UUID, no such entry
    ("assigned", {"id": "nope"}),  # not a UUID
    ("assigned", {"annotation": {"label": "a\x00b"}}),  # text PostgreSQL cannot store
    ("assigned", {"entry_id": None}),
    ("assigned", {"id": None}),
    ("open", {"metadata": {"last": True}}),
]


def mixed(world, extra=()):
    specs = [*MIXED, *extra]
    entry = world["assigned"]
    world = {**world, "ASSIGNED": entry.upper()}
    batch = creates(world, specs, [str(uuid.uuid4()) for _ in range(3)])
    for call in batch:
        if isinstance(call["params"], dict) and call["params"].get("entry_id") == "ENTRY":
            call["params"]["entry_id"] = entry
    del batch[7]["id"]  # a notification
    return batch


def run_both_ways(client, api, make_batch, monkeypatch, *, bearer, query=""):
    """Send ``make_batch()`` set-based, then again one call at a time (the bulk table emptied);
    assert both give the same replies (ids and timestamps aside) and the same number of new
    annotations; return the set-based replies, the batch, that number, and what the bulk write
    did (rows written, "refused")."""
    seen = []
    fast = dict(bulk.METHODS)
    real = fast["create"]

    def spy(rows):
        seen.append(len(rows))
        try:
            return real.write(rows)
        except Exception:
            seen.append("refused")
            raise

    monkeypatch.setitem(fast, "create", Bulk(real.prepare, spy))
    outs, deltas, batches = [], [], []
    for table in (fast, {}):
        monkeypatch.setattr(bulk, "METHODS", table)
        batch = make_batch()
        before = count(api)
        resp = post(client, batch, bearer=bearer, query=query)
        outs.append(replies(resp) if resp.status_code == 200 else nothing(resp))
        deltas.append(count(api) - before)
        batches.append(batch)
    assert normalised(outs[0], batches[0]) == normalised(outs[1], batches[1])
    assert deltas[0] == deltas[1]
    return outs[0], batches[0], deltas[0], seen


def normalised(out, batch):
    """The replies as JSON text, with server-chosen ids, client ids and timestamps replaced."""
    text = json.dumps(out)
    chosen = [c["params"]["id"] for c in batch
              if isinstance(c.get("params"), dict) and isinstance(c["params"].get("id"), str)]
    for k, value in enumerate(chosen):
        text = text.replace(value, f"<client {k}>")
    for k, reply in enumerate(out or []):
        result = reply.get("result") or {}
        if "id" in result:
            text = text.replace(result["id"], f"<new {k}>")
            for stamp in ("created_at", "updated_at"):
                text = text.replace(result[stamp], "<time>")
    return text


def as_served(api, result):
    """Assert a create's result is, to the byte, the record GET /annotations/{id} serves."""
    assert json.dumps(result) == json.dumps(http_flat(api, result["id"]))


ROLES = {"admin": None, "annotator": ANNOTATOR}


@pytest.mark.parametrize("role", ROLES)
def test_batch_of_creates_answers_call_by_call(client, api, world, monkeypatch, role):
    bearer = ROLES[role] or token()
    out, batch, added, seen = run_both_ways(client, api, lambda: mixed(world), monkeypatch,
                                            bearer=bearer)
    assert seen and "refused" not in seen, "the set-based path did not write"
    by_id = {reply["id"]: reply for reply in out}
    assert "k7" not in by_id and len(out) == len(batch) - 1  # the notification is not answered
    codes = {k: r["error"]["code"] for k, r in by_id.items() if "error" in r}
    refused_here = {"k3": -32003, "k5": -32004, "k17": -32003} if role == "annotator" else {}
    assert codes == {"k1": -32602, "k2": -32004, "k4": -32009, "k8": -32602, "k9": -32602,
                     "k11": -32602, "k12": -32004, "k13": -32602, "k14": -32602, "k15": -32602,
                     **refused_here}
    created = [r["result"] for r in out if "result" in r]
    assert added == len(created) + 1  # the notification's too
    for result in created:
        as_served(api, result)
        assert ok(call(client, "show", {"id": result["id"]}))["id"] == result["id"]
        assert result["created_by_email"] == ("ann@example.com" if role == "annotator"
                                              else "admin@example.com")
    odd, entry = by_id["k6"]["result"], api.get(f"/entries/{world['assigned']}").json()["data"]
    assert odd["annotation"] == ODD_JSON and odd["metadata"] == {"zz": 1, "a": 2}
    assert (odd["project_id"], odd["dataset_id"]) == (entry["attributes"]["project_id"],
                                                      entry["attributes"]["dataset_id"])
    assert by_id["k0"]["result"]["metadata"] == {"i": 0}
    assert by_id["k10"]["result"]["id"] == batch[10]["params"]["id"]
    assert uuid.UUID(by_id["k16"]["result"]["id"]).version == 7
    assert data_of(by_id["k2"]) == {"detail": f"entry_id {NO_ENTRY!r} does not exist."}
    assert "/params/annotation/label" in pointers(data_of(by_id["k14"]))


def data_of(reply):
    return reply["error"]["data"]


@pytest.mark.parametrize("extra", [
    [("assigned", {"id": 0})],  # the client id of k10 again, later in the batch
    [("assigned", {"id": 2}), ("assigned", {"id": 2})],  # twice in a row
    [("assigned", {"id": "TREE"})],  # an annotation's id that exists already
], ids=["repeated-id", "repeated-adjacent", "existing-id"])
def test_batch_of_creates_with_a_taken_id_falls_back_to_call_by_call(client, api, tree, world,
                                                                      monkeypatch, extra):
    def make():
        batch = mixed(world, extra)
        for call_ in batch[len(MIXED):]:
            if call_["params"]["id"] == "TREE":
                call_["params"]["id"] = tree["annotation"]["id"]
        return batch

    out, _, _, seen = run_both_ways(client, api, make, monkeypatch, bearer=ANNOTATOR)
    assert seen[-1] == "refused"
    conflicts = [r for r in out[-len(extra):] if "error" in r]
    assert [r["error"]["code"] for r in conflicts] == [-32009]
    assert data_of(conflicts[0])["detail"].startswith("Id ")
    for reply in out:
        if "result" in reply:
            as_served(api, reply["result"])


@pytest.mark.parametrize("specs", [
    [("assigned", {}), ("open", {}), ("assigned", {"annotation": ODD_JSON})],
    [("assigned", {}), ("assigned", {}), ("done", {})],  # fails last
    [("assigned", {}), ("assigned", {"dimensions": []}), ("assigned", {})],  # invalid in the middle
    [("assigned", {"id": 0}), ("assigned", {}), ("assigned", {"id": 0})],  # a repeated client id
    [(NO_ENTRY, {}), ("assigned", {})],
], ids=["all-valid", "completed-last", "invalid-middle", "repeated-id", "missing-first"])
@pytest.mark.parametrize("role", ROLES)
def test_atomic_batch_of_creates_answers_call_by_call(client, api, world, monkeypatch, specs, role):
    def make():
        return creates(world, specs, [str(uuid.uuid4())])

    out, _, added, _ = run_both_ways(client, api, make, monkeypatch, bearer=ROLES[role] or token(),
                                     query="?atomic=true")
    failing = [r for r in out if "error" in r and r["error"]["code"] != ROLLED_BACK[0]]
    if all("result" in r for r in out):
        assert added == len(out)
        for reply in out:
            as_served(api, reply["result"])
    else:
        assert added == 0 and len(failing) == 1
        assert all(r["error"]["code"] == ROLLED_BACK[0] for r in out if r is not failing[0])


def test_batch_of_creates_reads_entries_once_and_inserts_once(client, api, world, caplog):
    """The statements of a batch of 60 creates on two entries: one SELECT of the entries, one
    INSERT of the annotations, the outbox's one read of the project's webhooks (none) and one
    INSERT of the 60 events (the log keeps every event); the 60 revisions go by the driver at
    once (a prepared INSERT run per row on SQLite, COPY on PostgreSQL: not in peewee's log)."""
    batch = creates(world, [("assigned" if i % 2 else "open", {}) for i in range(60)], [])
    before = count(api)
    with db.connection_context():
        revisions_before = AnnotationRevision.select().count()
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        out = replies(post(client, batch))
    sql = [str(r.msg[0]) for r in caplog.records if r.name == "peewee" and isinstance(r.msg, tuple)]
    statements = [text.split()[0].upper() for text in sql]
    assert all("result" in r for r in out)
    assert statements.count("SELECT") == 2 and statements.count("INSERT") == 2, statements
    assert sum(text.startswith('INSERT INTO "event"') for text in sql) == 1
    assert sum('FROM "webhook"' in text for text in sql) == 1
    assert count(api) == before + 60
    with db.connection_context():
        assert AnnotationRevision.select().count() == revisions_before + 60
    for reply in out[::13]:
        as_served(api, reply["result"])


def test_batch_of_creates_by_an_annotator_checks_permissions_once_per_project(client, api, world,
                                                                              caplog):
    batch = creates(world, [("assigned", {}), ("open", {})] * 20, [])
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        out = replies(post(client, batch, bearer=ANNOTATOR))
    selects = [r for r in caplog.records if r.name == "peewee" and isinstance(r.msg, tuple)
               and str(r.msg[0]).upper().startswith("SELECT")]
    assert [("result" in r) for r in out] == [True, False] * 20
    assert {r["error"]["code"] for r in out if "error" in r} == {-32003}
    outbox = [r for r in selects if 'FROM "webhook"' in r.msg[0]]  # one read of the project's webhooks
    assert len(outbox) == 1 and len(selects) - len(outbox) <= 3, [r.msg[0] for r in selects]


def test_insert_many_writes_in_chunks_and_keeps_the_order(api, world):
    """store.insert_many behind the set-based path: rows come back in order, as GET serves them,
    however many statements they take."""
    entry = Entry.get_by_id(world["assigned"])
    rows = [{"entry_id": entry.id, "project_id": entry.project_id, "dataset_id": entry.dataset_id,
             "dimensions": {"n": n}, "annotation": ODD_JSON, "metadata": {}, "created_by_email": None}
            for n in range(7)]
    with db.connection_context(), db.atomic():
        stored = store.insert_many(ANNOTATIONS, rows, chunk=3)
    assert [row.dimensions for row in stored] == [{"n": n} for n in range(7)]
    for row in stored:
        as_served(api, methods.flat(row))
        assert http_flat(api, row.id)["created_by_email"] is None


@pytest.mark.parametrize("calls, expected", [
    ([], []),
    (["c", "c", "s", "c"], [["c", "c"], ["s"], ["c"]]),
    (["c", "bad", "c", "c", "n"], [["c"], ["bad"], ["c", "c", "n"]]),
    (["s", "s"], [["s"], ["s"]]),
], ids=["empty", "split-by-other-method", "split-by-invalid", "no-bulk-form"])
def test_runs_group_consecutive_calls_with_a_bulk_form(calls, expected):
    objects = {"c": {"jsonrpc": "2.0", "method": "create", "id": 1},
               "n": {"jsonrpc": "2.0", "method": "create"},
               "s": {"jsonrpc": "2.0", "method": "show", "id": 2},
               "bad": {"jsonrpc": "1.0", "method": "create", "id": 3}}
    names = {id(o): n for n, o in objects.items()}
    groups = protocol.runs([objects[c] for c in calls], {"create": None})
    assert [[names[id(c)] for c in g] for g in groups] == expected


# --- authentication and transport -----------------------------------------------------------------

EXPIRED = token(ttl=-10)


@pytest.mark.parametrize("bearer", [None, "not-a-jwt", EXPIRED, token()[:-3] + "AAA"],
                         ids=["none", "garbage", "expired", "tampered"])
def test_not_authenticated(client, api, tree, bearer):
    before = count(api)
    payload = {"jsonrpc": "2.0", "method": "create", "params": new(tree["entries"][0]["id"]), "id": 1}
    for body in (payload, [payload, payload]):
        reply = replies(post(client, body, bearer=bearer), 401)
        assert reply["error"]["code"] == -32001 and reply["id"] is None
        assert reply["error"]["message"]
    assert count(api) == before


def test_cookie_token_is_accepted(client, tree):
    client.cookies.set("auth-token", token())
    try:
        reply = call(client, "show", {"id": tree["annotation"]["id"]}, bearer=None)
        assert ok(reply)["id"] == tree["annotation"]["id"]
    finally:
        client.cookies.clear()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "application/xml"])
def test_wrong_content_type_is_a_jsonrpc_415(client, api, tree, content_type):
    before = count(api)
    payload = {"jsonrpc": "2.0", "method": "create", "params": new(tree["entries"][0]["id"]), "id": 1}
    resp = post(client, payload, headers={"Content-Type": content_type})
    reply = replies(resp, 415)
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    assert reply["error"]["data"]["detail"]
    assert count(api) == before


@pytest.mark.parametrize("query", ["?atomic=maybe", "?foo=1"], ids=["bad-atomic", "unknown-parameter"])
def test_bad_query_strings_get_a_jsonrpc_error(client, tree, query):
    """openapi.yaml documents every non-2xx answer of this route as a JSON-RPC reply object."""
    payload = {"jsonrpc": "2.0", "method": "show", "params": {"id": tree["annotation"]["id"]}, "id": 1}
    resp = post(client, payload, query=query)
    reply = replies(resp, 400)
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    assert reply["error"]["data"]["detail"]


def test_json_with_utf8_charset_is_accepted(client, tree):
    payload = {"jsonrpc": "2.0", "method": "show", "params": {"id": tree["annotation"]["id"]}, "id": 1}
    reply = replies(post(client, payload, headers={"Content-Type": "application/json; charset=utf-8"}))
    assert ok(reply)["id"] == tree["annotation"]["id"]


def test_jsonapi_media_type_gets_a_jsonrpc_answer(client, tree):
    """The Gatekeeper lets application/vnd.api+json through on this route (as on every route):
    it must be served, or refused with a JSON-RPC error, never with a JSON:API error document."""
    payload = {"jsonrpc": "2.0", "method": "show", "params": {"id": tree["annotation"]["id"]}, "id": 1}
    resp = post(client, payload, headers={"Content-Type": "application/vnd.api+json"})
    assert resp.status_code in (200, 415), resp.text
    reply = replies(resp, resp.status_code)
    if resp.status_code == 200:
        assert ok(reply)["id"] == tree["annotation"]["id"]
    else:
        assert reply["error"]["code"] == -32600 and reply["error"]["data"]["detail"]


def test_forbidden_and_hidden_for_a_reviewer(client, api, tree):
    """A reviewer may read the project's annotations of entries at their step, never write them."""
    factories.member(api, tree["project"], 42, "reviewer", "rev@example.com")
    reviewer = token(account_id=42, email="rev@example.com", role="user")
    outsider = token(account_id=43, email="out@example.com", role="user")
    entry_id, annotation_id = tree["entries"][0]["id"], tree["annotation"]["id"]
    # an outsider cannot see the annotation: not found, as in the JSON:API
    failed(call(client, "show", {"id": annotation_id}, bearer=outsider), -32004, 1, "Not found")
    failed(call(client, "delete", {"id": annotation_id}, bearer=outsider), -32004, 1, "Not found")
    assert ok(call(client, "index", {"count": True}, bearer=outsider))["meta"]["count"] == 0
    reply = call(client, "create", new(entry_id), bearer=reviewer)
    assert reply["error"]["code"] in (-32003, -32004), reply
    assert reply["error"]["message"] in ("Forbidden", "Not found")
    assert count(api) == 1


# --- a real client: jsonrpcclient ---------------------------------------------------------------

def test_jsonrpcclient_single_calls(client, tree, entry_id):
    request = jsonrpcclient.request("create", params=new(entry_id, metadata={"via": "jsonrpcclient"}))
    response = jsonrpcclient.parse(post(client, request).json())
    assert isinstance(response, jsonrpcclient.Ok) and response.id == request["id"]
    assert response.result["metadata"] == {"via": "jsonrpcclient"}
    created = response.result["id"]

    request = jsonrpcclient.request("show", params={"id": created})
    response = jsonrpcclient.parse_json(post(client, request).text)
    assert isinstance(response, jsonrpcclient.Ok) and response.result["id"] == created

    request = jsonrpcclient.request("show", params=(created,))  # positional
    response = jsonrpcclient.parse_json(post(client, request).text)
    assert isinstance(response, jsonrpcclient.Error)
    assert (response.code, response.message, response.id) == (-32602, "Invalid params", request["id"])

    request = jsonrpcclient.request_uuid("subtract", params=(42, 23))
    response = jsonrpcclient.parse_json(post(client, request).text)
    assert isinstance(response, jsonrpcclient.Error) and response.code == -32601
    assert response.id == request["id"]

    response = jsonrpcclient.parse_json(post(client, raw=jsonrpcclient.request_json("delete", params={
        "id": created})).text)
    assert isinstance(response, jsonrpcclient.Ok) and response.result is None

    notification = jsonrpcclient.notification_json("delete", params={"id": tree["annotation"]["id"]})
    resp = post(client, raw=notification)
    nothing(resp)
    response = jsonrpcclient.parse(post(client, jsonrpcclient.request("show", params={
        "id": tree["annotation"]["id"]})).json())
    assert isinstance(response, jsonrpcclient.Error) and response.code == -32004


def test_jsonrpcclient_batches(client, api, tree, entry_id):
    before = count(api)
    creates = [jsonrpcclient.request_hex("create", params=new(entry_id, metadata={"n": n})) for n in range(3)]
    notify = jsonrpcclient.notification("create", params=new(entry_id, metadata={"n": "quiet"}))
    bad = jsonrpcclient.request("show", params={"id": str(uuid.uuid4())})
    listing = jsonrpcclient.request("index", params={"filter": {"entry_id": entry_id}, "count": True})
    batch = [*creates, notify, bad, listing]
    responses = list(jsonrpcclient.parse(post(client, batch).json()))
    assert [r.id for r in responses] == [r["id"] for r in batch if "id" in r]
    assert all(isinstance(r, jsonrpcclient.Ok) for r in responses[:3])
    assert [r.result["metadata"] for r in responses[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert isinstance(responses[3], jsonrpcclient.Error) and responses[3].code == -32004
    assert responses[3].message == "Not found"
    assert isinstance(responses[4], jsonrpcclient.Ok) and responses[4].result["meta"]["count"] == 5
    assert count(api) == before + 4

    resp = post(client, [jsonrpcclient.notification("create", params=new(entry_id)) for _ in range(3)])
    nothing(resp)
    assert count(api) == before + 7

    responses = list(jsonrpcclient.parse_json(post(client, [*creates[:2], bad], query="?atomic=true").text))
    assert [(type(r), getattr(r, "code", None)) for r in responses] == [
        (jsonrpcclient.Error, -32000), (jsonrpcclient.Error, -32000), (jsonrpcclient.Error, -32004)]
    assert count(api) == before + 7
