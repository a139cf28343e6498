"""Input no database driver takes, and lists past their bounds, are client errors, never a 500
(issue #10 item 1), on SQLite and PostgreSQL alike.

- Text holding U+0000 or an unpaired surrogate is stored and matched nowhere (psycopg2 refuses
  NUL, sqlite3 lone surrogates): a path id is a 400 naming ``id`` (the ``ResourceId`` schema's
  pattern); an id that is not UTF-8 arrives as U+FFFD and names nothing (404); JSON-RPC params are
  -32602 pointing at the text, as ``create`` does.
- Every list a client sends has a bound in openapi.yaml that the server keeps too: ``sort`` one
  term per sortable name, ``filter[x__in]`` 1,000 items (query.py, for JSON-RPC as for the query
  string), ``included``/``include`` 20 paths, ``fields`` the length of every member once.
Routes come from openapi.yaml, so a new route is covered as it is added."""

import json
import socket
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
import yaml

import dataset_api.resources  # noqa: F401 - declares every resource
from dataset_api import store
from dataset_api.auth import tokens
from dataset_api.db import db
from dataset_api.errors import NotFound
from dataset_api.jsonapi.query import MAX_LIST_ITEMS
from dataset_api.registry import RESOURCES
from tests.conftest import MEDIA, token
from tests.live import PG_URL, SECRET, Server, dedicated_database

SPEC = yaml.load((Path(__file__).resolve().parent.parent / "openapi.yaml").read_text(), yaml.CSafeLoader)
RPC = "/annotations/_rpc"
NAMES = sorted(RESOURCES)
ID_ROUTES = [(method.upper(), path) for path, item in SPEC["paths"].items() if "{id}" in path
             for method in ("get", "post", "patch", "put", "delete") if method in item]
BAD_TEXT = {"nul": "a\x00b", "surrogate": "\ud800"}


# ---------------------------------------------------------------------------------------- helpers

def the_error(resp, status):
    """Assert ``resp`` is a JSON:API error document with ``status``; return its first error."""
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith(MEDIA)
    errors = resp.json()["errors"]
    assert errors and all(e["status"] == str(status) for e in errors)
    return errors[0]


def refused(resp, parameter):
    """A 400 whose first error names the query or path parameter ``parameter``."""
    error = the_error(resp, 400)
    assert error.get("source") == {"parameter": parameter}, error
    return error


def example_body(method, path):
    """The first request body example openapi.yaml gives the operation (None without a body)."""
    return example_request(method, path)[1]


def example_request(method, path):
    """(media type, example) of the operation's first request body example ((None, None) without)."""
    content = SPEC["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
    for kind, media in content.items():
        for example in media.get("examples", {}).values():
            return kind, SPEC["components"]["examples"][example["$ref"].rsplit("/", 1)[1]]["value"]
        if "example" in media:
            return kind, media["example"]
    return None, None


def send_example(api, method, path, segment):
    """Send the operation's example body in its media type (NDJSON: one line per item) to
    ``path`` with ``segment`` for its id."""
    kind, value = example_request(method, path)
    target = path.replace("{id}", segment)
    if kind == "application/x-ndjson":
        raw = "".join(json.dumps(line) + "\n" for line in value).encode()
        return api.request(method, target, raw=raw, headers={"Content-Type": kind})
    return api.request(method, target, value, headers=accepting(path))


def accepting(path):
    """An ``Accept`` the route answers: the export answers NDJSON, CSV or COCO, never JSON:API
    (DESIGN §10), so the JSON:API client's default would be a 406 before the id is looked at."""
    return {"Accept": "*/*"} if path.endswith("/export") else None


def rpc(client, method, params):
    """One JSON-RPC call (sent as ASCII JSON, so a lone surrogate travels as ``\\ud800``)."""
    resp = client.post(RPC, content=json.dumps({"jsonrpc": "2.0", "method": method, "id": 1,
                                                "params": params}),
                       headers={"Authorization": f"Bearer {token()}",
                                "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()


def invalid_params(reply):
    """Assert ``reply`` is -32602; return where its errors point (pointer or parameter)."""
    assert reply.get("error", {}).get("code") == -32602, reply
    return [e.get("pointer") or e.get("parameter") for e in reply["error"]["data"]["errors"]]


# ----------------------------------------------------------------------------- ids in the path

@pytest.mark.parametrize("method, path", ID_ROUTES, ids=[f"{m} {p}" for m, p in ID_ROUTES])
def test_nul_in_a_path_id_is_400_naming_id(api, method, path):
    resp = send_example(api, method, path, "a%00b")
    error = refused(resp, "id")
    assert error["code"] == "bad_request"


@pytest.mark.parametrize("segment", ["%00", "%ED%A0%80", "%FF", "%C0%80"],
                         ids=["nul-alone", "encoded-surrogate", "not-utf8", "overlong-nul"])
def test_undecodable_path_ids_are_client_errors(api, segment):
    """Not UTF-8 (a surrogate's encoding, a stray byte, an overlong NUL) decodes to U+FFFD, which
    names no record: 404. Whatever the route, a JSON:API client error, never a 500."""
    for method, path in ID_ROUTES:
        resp = send_example(api, method, path, segment)
        assert 400 <= resp.status_code < 500, (method, path, resp.text[:300])
        assert resp.headers["content-type"].startswith(MEDIA), (method, path)
        if segment != "%00" and method == "GET":
            the_error(resp, 404)


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT)
def test_an_id_no_database_takes_names_no_record(app, text):
    """The store's own guard, under the schema's: such an id is never sent to the database."""
    with db.connection_context():
        for res in NAMES:
            with pytest.raises(NotFound):
                store.get_or_404(RESOURCES[res], text)
            assert store.readable_by_id(RESOURCES[res], [text]) == {}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT)
def test_bad_text_as_a_client_id_is_refused_pointing_at_it(api, text):
    """A body's ``data.id`` (create) never reaches the database either: a client UUID has its
    pattern (422 at ``/data/id``); server-assigned ids are never looked up (403, or the 404 of
    the example's parent, which this empty database lacks)."""
    for res in (name for name in NAMES if not RESOURCES[name].read_only):
        body = example_body("POST", f"/{res}")
        resp = api.post(f"/{res}", {**body, "data": {**body["data"], "id": text}})
        if RESOURCES[res].id_kind == "integer":
            assert resp.status_code in (403, 404), (res, resp.text[:300])
        else:
            assert the_error(resp, 422)["source"] == {"pointer": "/data/id"}, res


# ------------------------------------------------------------------------- JSON-RPC params

@pytest.mark.parametrize("method", ["show", "update", "delete"])
@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT)
def test_rpc_id_no_database_takes_is_invalid_params(client, method, text):
    assert invalid_params(rpc(client, method, {"id": text})) == ["/params/id"]


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT)
@pytest.mark.parametrize("filters, where", [
    (lambda t: {"entry_id": t}, "/params/filter/entry_id"),
    (lambda t: {"id": t}, "/params/filter/id"),
    (lambda t: {"entry_id__in": [str(uuid.uuid4()), t]}, "/params/filter/entry_id__in/1"),
    (lambda t: {"entry_id__in": f"{uuid.uuid4()},{t}"}, "/params/filter/entry_id__in"),
    (lambda t: {"created_by_email__match": t}, "/params/filter/created_by_email__match"),
    (lambda t: {"metadata": {"k": t}}, "/params/filter/metadata/k"),
], ids=["equal", "own-id", "in-list", "in-text", "match", "json"])
def test_rpc_index_filter_no_database_takes_is_invalid_params(client, tree, text, filters, where):
    assert invalid_params(rpc(client, "index", {"filter": filters(text)})) == [where]


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT)
def test_rpc_index_sort_no_database_takes_is_invalid_params(client, text):
    assert invalid_params(rpc(client, "index", {"sort": f"id,{text}"})) == ["/params/sort"]


def test_rpc_methods_still_answer_with_good_ids(client, tree):
    annotation_id = tree["annotation"]["id"]
    assert rpc(client, "show", {"id": annotation_id})["result"]["id"] == annotation_id
    assert rpc(client, "show", {"id": str(uuid.uuid4())})["error"]["code"] == -32004
    result = rpc(client, "index", {"filter": {"entry_id__in": [tree["entries"][0]["id"]]}})["result"]
    assert [a["id"] for a in result["data"]] == [annotation_id]


# -------------------------------------------------------------------------------------- sort

@pytest.mark.parametrize("res", NAMES)
def test_sort_takes_one_term_per_sortable_name(api, res):
    names = RESOURCES[res].sort_names
    every = ",".join(f"-{name}" for name in names)
    assert api.get(f"/{res}?sort={every}").status_code == 200
    for terms in (["id"] * 2001, ["id"] * (len(names) + 1), [*names, "id"]):
        refused(api.get(f"/{res}?sort=" + ",".join(terms)), "sort")


def test_the_spec_states_the_sort_bound():
    for res in NAMES:
        sort = next(p for p in SPEC["paths"][f"/{res}"]["get"]["parameters"] if p.get("name") == "sort")
        most = len(RESOURCES[res].sort_names)
        assert sort["schema"]["pattern"].endswith(f"{{0,{most - 1}}}$"), res
        assert f"at most {most} terms" in sort["description"], res
    rpc_sort = SPEC["components"]["schemas"]["RpcParams"]["properties"]["sort"]
    most = len(RESOURCES["annotations"].sort_names)
    assert f"at most {most} terms" in rpc_sort["description"]
    assert all(name in rpc_sort["description"] for name in RESOURCES["annotations"].sort_names)


@pytest.mark.parametrize("sort", [",".join(["id"] * 2001), ["id"] * 2001, ["-created_at"] * 8],
                         ids=["text-2001", "list-2001", "list-8"])
def test_rpc_index_sort_past_its_bound_is_invalid_params(client, sort):
    assert invalid_params(rpc(client, "index", {"sort": sort})) == ["sort"]


def test_rpc_index_sort_within_its_bound_works(client, tree):
    names = RESOURCES["annotations"].sort_names
    assert "result" in rpc(client, "index", {"sort": [f"-{n}" for n in names]})


# ------------------------------------------------------------------------------ filter lists

@pytest.mark.parametrize("res", NAMES)
def test_own_id_lists_take_1000_items(api, res):
    item = "1" if RESOURCES[res].id_kind == "integer" else str(uuid.uuid4())
    assert api.get(f"/{res}?filter[id__in]=" + ",".join([item] * MAX_LIST_ITEMS)).status_code == 200
    for count in (MAX_LIST_ITEMS + 1, 2001):
        refused(api.get(f"/{res}?filter[id__in]=" + ",".join(["1"] * count)), "filter[id__in]")


@pytest.mark.parametrize("res", NAMES)
def test_every_in_list_past_its_spec_bound_is_400_naming_it(api, res):
    params = SPEC["paths"][f"/{res}"]["get"]["parameters"]
    keys = [p["name"] for p in params if p.get("name", "").endswith("__in]")]
    assert keys
    for key in keys:
        item = "2026-01-01T00:00:00Z" if "_at__in" in key else "1"
        refused(api.get(f"/{res}?{key}=" + ",".join([item] * 2001)), key)


@pytest.mark.parametrize("count", [MAX_LIST_ITEMS + 1, 300_000])
@pytest.mark.parametrize("key", ["id__in", "entry_id__in", "created_at__in"])
def test_rpc_index_lists_past_1000_items_are_invalid_params(client, key, count):
    item = "2026-01-01T00:00:00Z" if key == "created_at__in" else "a"
    assert invalid_params(rpc(client, "index", {"filter": {key: [item] * count}})) == [f"filter[{key}]"]


def test_rpc_index_lists_of_1000_items_work(client, tree):
    ids = [str(uuid.uuid4()) for _ in range(MAX_LIST_ITEMS - 1)] + [tree["annotation"]["id"]]
    result = rpc(client, "index", {"filter": {"id__in": ids}})["result"]
    assert [a["id"] for a in result["data"]] == [tree["annotation"]["id"]]


def test_rpc_index_page_past_its_bound_is_invalid_params(client):
    assert invalid_params(rpc(client, "index", {"page": {"number": 2**31 + 1}})) == ["page[number]"]
    page = SPEC["components"]["schemas"]["RpcParams"]["properties"]["page"]["description"]
    assert "number 1 to 2,147,483,648" in page and "size 1 to 1,000" in page


# ------------------------------------------------------------------------ includes and fields

@pytest.mark.parametrize("res", [name for name in NAMES if RESOURCES[name].include_paths])
def test_include_lists_past_their_bound_are_400_naming_them(api, res):
    path = RESOURCES[res].include_paths[0]
    for key in ("include", "included"):
        assert api.get(f"/{res}?{key}=" + ",".join([path] * 20)).status_code == 200
        for count in (21, 2001):
            refused(api.get(f"/{res}?{key}=" + ",".join([path] * count)), key)
        repeated = "&".join(f"{key}={path}" for _ in range(21))
        refused(api.get(f"/{res}?{repeated}"), key)


@pytest.mark.parametrize("res", NAMES)
def test_fields_lists_past_their_bound_are_400_naming_them(api, res):
    kind = RESOURCES[res].type
    for key in ("fields", f"fields[{kind}]"):
        assert api.get(f"/{res}?{key}=id").status_code == 200
        refused(api.get(f"/{res}?{key}=" + ",".join(["id"] * 2001)), key)


# ------------------------------------------------------------------------------ query values

@pytest.mark.parametrize("res", NAMES)
def test_nul_in_any_query_value_is_400_naming_it(api, res):
    for key in ("sort", "included", "fields", "filter[id]", "filter[id__in]", "page[size]", "count"):
        refused(api.get(f"/{res}?{key}=id%00"), key)


def test_nul_in_a_query_key_and_undecodable_query_text_are_400(api):
    the_error(api.get("/entries?filter[id%00]=1"), 400)
    for text in ("%ED%A0%80", "%FF", "%C0%80"):
        the_error(api.get(f"/entries?filter[id]={text}"), 400)


# ------------------------------------------------------------------ bytes past a request's end

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A ``dataset-api serve`` (one worker) and an admin's token for it."""
    with dedicated_database() if PG_URL else nullcontext("") as database_url:
        with Server(tmp_path_factory.mktemp("pipelined"), database_url, workers=1) as srv:
            yield srv, tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")


def exchange(port, *pieces, pause=0.2):
    """Send ``pieces`` on one connection (``pause`` between them), read until the server ends the
    stream, and hold the connection open a moment more (as a slow client does) before closing.
    Return [(status, body)] of the responses, in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for n, piece in enumerate(pieces):
            if n:
                time.sleep(pause)
            sock.sendall(piece)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        time.sleep(0.5)
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        answers.append((int(head.split(b" ")[1]), json.loads(rest[:length])))
        received = rest[length:]
    return answers


def projects_named(srv, bearer, name):
    resp = httpx.get(f"{srv.url}/projects", params={"filter[name]": name},
                     headers={"Authorization": f"Bearer {bearer}", "Accept": MEDIA})
    return len(resp.json()["data"])


@pytest.mark.parametrize("split", [False, True], ids=["one-segment", "later-segment"])
@pytest.mark.parametrize("extra", [b"garbage!!\r\n\r\n", b"\x00\x01" * 40000],
                         ids=["short", "long"])
def test_bytes_past_the_content_length_are_400_after_the_request_s_answer(live, split, extra):
    """Issue #20: bytes after a request that are no request were answered 400 at once, while the
    request itself was still running: its answer was lost (though it wrote) or written after the
    400's end of stream, an unhandled traceback in the log. HTTP/1.1 answers in order: the request
    read whole gets its answer, then the bytes after it their 400, and the connection closes."""
    srv, bearer = live
    name = f"pipelined-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"data": {"type": "dataset:projects",
                                "attributes": {"name": name, "organization_id": 1}}}).encode()
    request = (f"POST /projects HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer}\r\n"
               f"Content-Type: {MEDIA}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    answers = exchange(srv.port, *((request, extra) if split else (request + extra,)))
    assert [status for status, _ in answers] == [201, 400], answers
    assert answers[0][1]["data"]["attributes"]["name"] == name
    assert answers[1][1]["errors"][0]["code"] == "bad_request"
    assert projects_named(srv, bearer, name) == 1
    assert "Traceback" not in srv.log()


def test_a_body_cut_by_bad_chunk_framing_is_400_and_writes_nothing(live):
    srv, bearer = live
    name = f"chunked-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"data": {"type": "dataset:projects",
                                "attributes": {"name": name, "organization_id": 1}}}).encode()
    head = (f"POST /projects HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer}\r\n"
            f"Content-Type: {MEDIA}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    answers = exchange(srv.port, head + b"a\r\n" + body[:10] + b"\r\n",  # a chunk of 10 bytes,
                       b"not-a-chunk-size\r\n\r\n")  # then none: the body stops mid-way
    assert [status for status, _ in answers] == [400], answers
    time.sleep(0.3)
    assert projects_named(srv, bearer, name) == 0
    assert "Traceback" not in srv.log()
