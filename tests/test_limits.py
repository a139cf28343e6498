"""Limits a client meets from outside (DESIGN §3, §7, §9): request targets up to 64 KiB (a filter of
1,000 UUIDs) and a JSON:API 414 past that, never the HTTP server's text/plain 400; request headers
up to 100 fields and 64 KiB, and a JSON:API 431 past that (never buffered whole); text the database
cannot store (U+0000, unpaired surrogates) refused where it is stored or looked up, never in the
members the server ignores (``meta``, ``links``, ``jsonapi``, read-only attributes).

The first half runs on the ASGI app; the second on a live ``dataset-api serve`` (SQLite in its own
data folder), since the request-target limits live in the HTTP protocol as well as in the app.
"""

import asyncio
import json
import socket
import uuid

import httpx
import pytest

from dataset_api.auth import tokens
from dataset_api.middleware import MAX_TARGET_BYTES, RPC_PATH, Gatekeeper
from tests.live import SECRET, Server

MEDIA = "application/vnd.api+json"
NUL_DETAIL = "Text may not contain U+0000 or unpaired surrogates."


def error(resp, status):
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith(MEDIA), resp.headers
    return resp.json()["errors"][0]


def project_body(**extra):
    data = {"type": "dataset:projects", "attributes": {"name": "Birds", "organization_id": 7}}
    data.update(extra.pop("data", {}))
    return {"data": data, **extra}


# --- text that cannot be stored: refused where it is used, ignored where it is ignored ---------------

@pytest.mark.parametrize("where", ["meta", "links", "jsonapi", "data.meta", "data.links"])
def test_nul_in_an_ignored_member_is_accepted(api, where):
    junk = {"k\x00ey": ["a\x00b", {"\ud800": "lone \udfff"}]}
    outer, _, inner = where.partition(".")
    body = project_body(data={inner: junk}) if inner else project_body(**{outer: junk})
    resp = api.post("/projects", raw=json.dumps(body), headers={"Content-Type": MEDIA})
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"]["name"] == "Birds"


def test_nul_in_a_read_only_attribute_is_ignored(api):
    body = project_body()
    body["data"]["attributes"]["created_by_email"] = "x\x00@example.com"
    resp = api.post("/projects", body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"]["created_by_email"] == "admin@example.com"


def test_nul_in_a_stored_attribute_is_422_with_its_pointer(api):
    body = project_body()
    body["data"]["attributes"]["description"] = "a\x00b"
    err = error(api.post("/projects", body), 422)
    assert err["source"]["pointer"] == "/data/attributes/description"


@pytest.mark.parametrize("text", ["k\x00", "\ud800"])
def test_bad_text_in_a_free_form_key_is_422_pointing_at_it(api, tree, text):
    body = {"data": {"type": "dataset:annotations", "attributes": {
        "entry_id": tree["entries"][1]["id"], "dimensions": {"box": {text: 1}}, "annotation": {}}}}
    err = error(api.post("/annotations", raw=json.dumps(body), headers={"Content-Type": MEDIA}), 422)
    assert err["detail"] == NUL_DETAIL
    assert err["source"]["pointer"] == f"/data/attributes/dimensions/box/{text}"


def test_lone_surrogate_in_a_stored_value_is_422(api, tree):
    body = {"data": {"type": "dataset:annotations", "attributes": {
        "entry_id": tree["entries"][1]["id"], "dimensions": {}, "annotation": {"label": ["ok", "\udc00"]}}}}
    err = error(api.post("/annotations", raw=json.dumps(body), headers={"Content-Type": MEDIA}), 422)
    assert err["source"]["pointer"] == "/data/attributes/annotation/label/1"


def test_nul_in_a_parent_linkage_is_refused(api, tree):
    body = {"data": {"type": "dataset:datasets", "attributes": {"name": "D", "modality": "image"},
                     "relationships": {"project": {"data": {"type": "dataset:projects",
                                                            "id": tree["project"]["id"] + "\x00"}}}}}
    err = error(api.post("/datasets", body), 422)
    assert err["source"]["pointer"].startswith("/data/relationships/project")


def test_relationships_that_are_not_an_object_are_422_not_500(api):
    for value in ([None, None], 5, "x"):
        resp = api.post("/projects", project_body(data={"relationships": value}))
        assert resp.status_code == 422, resp.text


def test_json_still_parsed_strictly(api):
    resp = api.post("/projects", raw='{"data": {"type": "dataset:projects", "attributes": '
                                     '{"name": "x", "organization_id": NaN}}}',
                    headers={"Content-Type": MEDIA})
    assert error(resp, 400)["code"] == "parse_error"


# --- request targets on the ASGI app ---------------------------------------------------------------

def gatekeeper_answer(target, method="GET"):
    """What the app's Gatekeeper answers to ``target`` (httpx refuses to send URLs over 64 KiB)."""
    path, _, query = target.partition(b"?")
    scope = {"type": "http", "method": method, "path": path.decode(), "raw_path": path,
             "query_string": query, "headers": [(b"content-type", b"application/json")]}
    sent, reached = [], []

    async def inner(scope, receive, send):
        reached.append(scope)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(Gatekeeper(inner, max_body_bytes=1024)(scope, receive, send))
    if reached:
        return None, None, None
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers[b"content-type"].decode(), json.loads(sent[1]["body"])


def test_target_over_64_kib_is_a_json_api_414():
    status, media, body = gatekeeper_answer(b"/projects?filter[name]=" + b"a" * MAX_TARGET_BYTES)
    assert (status, media) == (414, MEDIA)
    assert body["errors"][0]["code"] == "uri_too_long"
    assert body["errors"][0]["title"] == "URI Too Long"


def test_target_of_exactly_64_kib_passes_the_gatekeeper():
    prefix = b"/projects?filter[name]="
    assert gatekeeper_answer(prefix + b"a" * (MAX_TARGET_BYTES - len(prefix))) == (None, None, None)


def test_rpc_route_answers_414_as_json_rpc():
    status, media, body = gatekeeper_answer(RPC_PATH.encode() + b"?atomic=" + b"1" * MAX_TARGET_BYTES,
                                            "POST")
    assert (status, media) == (414, "application/json")
    assert body["error"]["code"] == -32600 and body["id"] is None


# --- the same over a live server: what the HTTP protocol does ------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("limits"), "", workers=1) as srv:
        yield srv


@pytest.fixture(scope="module")
def live(server):
    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {bearer}", "Accept": MEDIA}) as client:
        yield client


def raw_request(server, target, extra=b"", method=b"GET"):
    """Send ``method target`` over a socket as is; return (status line, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                         + extra + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent: the answer is there to read
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, body


def test_a_filter_of_1000_uuids_works(live):
    ids = [str(uuid.uuid4()) for _ in range(1000)]
    resp = live.get("/entries", params={"filter[id__in]": ",".join(ids)})
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["data"] == []
    repeated = "&".join(f"filter[id__in][]={i}" for i in ids)  # the reference clients' form: 58 KB
    resp = live.get("/entries?" + repeated)
    assert resp.status_code == 200, resp.text[:300]


@pytest.mark.parametrize("size", [65_535, 65_536])  # httptools parses at most 65,535 bytes itself
def test_targets_up_to_64_kib_reach_the_app(server, size):
    ids = ",".join(str(uuid.uuid4()) for _ in range(1000)).encode()
    target = b"/entries?filter%5Bid__in%5D=" + ids + b"&filter%5Bresource__match%5D="
    target += b"a" * (size - len(target))
    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    status, headers, body = raw_request(server, target, f"Authorization: Bearer {bearer}\r\n".encode())
    assert status.split()[1] == "400", (status, body[:300])  # from the app: the match value is too long
    assert json.loads(body)["errors"][0]["source"] == {"parameter": "filter[resource__match]"}
    assert "x-request-id" in headers


@pytest.mark.parametrize("size", [65_537, 70 * 1024, 3 * 1024 * 1024])
def test_longer_targets_get_a_json_api_414(server, size):
    status, headers, body = raw_request(server, b"/projects?filter[name]=" + b"a" * size)
    assert status.split()[1] == "414", (status, body[:300])
    assert headers["content-type"] == MEDIA
    assert json.loads(body)["errors"][0]["code"] == "uri_too_long"


def test_a_malformed_request_gets_a_json_api_400(server):
    status, headers, body = raw_request(server, b"/healthz", b"Bad Header Line\r\n")
    assert status.split()[1] == "400"
    assert headers["content-type"] == MEDIA
    assert json.loads(body)["errors"][0]["status"] == "400"


@pytest.mark.parametrize("headers", [
    b"".join(b"X-Field-%d: v\r\n" % i for i in range(101)),  # one field too many
    b"X-Big: " + b"a" * (64 * 1024) + b"\r\n",  # the bytes of all fields past 64 KiB
    b"X-Huge: " + b"a" * (8 * 1024 * 1024) + b"\r\n",  # one field the worker must not buffer whole
], ids=["fields", "bytes", "unbounded"])
def test_headers_past_their_bounds_get_a_json_api_431(server, headers):
    status, answer, body = raw_request(server, b"/healthz", headers)
    assert status.split()[1] == "431", (status, body[:300])
    assert answer["content-type"] == MEDIA
    assert json.loads(body)["errors"][0]["code"] == "headers_too_large"


def test_headers_within_their_bounds_are_served_on_a_kept_alive_connection(server):
    fields = b"".join(b"X-Field-%d: v\r\n" % i for i in range(90)) + b"X-Token: " + b"a" * 48 * 1024
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + fields + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        answers = b""
        for _ in range(3):  # the bound is per request, not per connection
            sock.sendall(request)
            while answers.count(b"HTTP/1.1 ") < _ + 1 or not answers.endswith(b"}\n"):
                answers += sock.recv(65536)
    assert answers.count(b"HTTP/1.1 200 OK") == 3, answers[:500]


def test_the_rpc_route_answers_431_as_json_rpc(server):
    status, answer, body = raw_request(server, RPC_PATH.encode(), b"X-Big: " + b"a" * 70_000 + b"\r\n",
                                       method=b"POST")
    assert status.split()[1] == "431", (status, body[:300])
    assert answer["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == -32600


def test_a_websocket_upgrade_is_answered_as_plain_http(server):
    """No WebSocket is offered: the ``Upgrade`` header is ignored (not uvicorn's text/plain 403)."""
    status, answer, body = raw_request(server, b"/healthz", b"Upgrade: websocket\r\nSec-WebSocket-Version: 13"
                                       b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    assert status.split()[1] == "200", (status, body[:300])
    assert json.loads(body) == {"status": "ok"}


H2C_OFFER = (b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
             b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n")  # as Java's HttpClient sends


def exchange(server, requests, answers):
    """Send ``requests`` (bytes) on one connection; read until ``answers`` responses have come."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(requests)
        data = b""
        while data.count(b"HTTP/1.1 ") < answers or not data.rstrip().endswith((b"}", b"]")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [part for part in data.split(b"HTTP/1.1 ")[1:]]


def post_project(name, extra=b""):
    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    body = json.dumps({"data": {"type": "dataset:projects",
                                "attributes": {"name": name, "organization_id": 1}}}).encode()
    return (b"POST /projects HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + bearer.encode()
            + b"\r\nContent-Type: application/vnd.api+json\r\nContent-Length: %d\r\n" % len(body)
            + extra + b"\r\n" + body)


def test_an_h2c_upgrade_offer_is_declined_and_the_body_read(server, live):
    """Java's HttpClient offers h2c on every request (issue #21): the offer is declined (RFC 9110
    §7.8) and the request, body included, answered as HTTP/1.1, as is the one pipelined after it."""
    answers = exchange(server, post_project("Offered h2c", H2C_OFFER) + post_project("After it"), 2)
    assert [a.split(b" ", 1)[0] for a in answers] == [b"201", b"201"], answers
    names = [p["attributes"]["name"] for p in live.get("/projects?filter[name__prefix]=Offered h2c"
                                                       ).json()["data"]]
    assert names == ["Offered h2c"]
    assert live.get("/projects?filter[name]=After it").json()["data"]


def test_a_websocket_upgrade_offer_is_answered_as_plain_http(server):
    request = (b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    answers = exchange(server, request + b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n", 2)
    assert [a.split(b" ", 1)[0] for a in answers] == [b"200", b"200"], answers


def test_connect_is_answered_not_hung(server):
    status, _, body = raw_request(server, b"127.0.0.1:80", method=b"CONNECT")
    assert status.split()[1] in ("400", "404", "405"), (status, body[:300])
