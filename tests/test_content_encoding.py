"""``Content-Encoding`` (DESIGN §11): an import may be sent gzip-compressed and stores what the plain
body would; a gzip bomb is a 413 and a corrupt stream a 400, each writing nothing; every other
coding, on any route, is a 415 in the route's error format; ``dataset-api import`` sends gzip."""

import gzip
import json
import zlib

import httpx
import pytest

from dataset_api import cli
from dataset_api import client as bulk_client
from dataset_api.transfer import encoding
from tests import factories
from tests.conftest import app_client, token
from tests.test_import import NDJSON, listed, ndjson, notes_of, upload

LINES = [{"resource": f"img_{i:04d}.jpg", "priority": i % 3, "annotations": [
    {"dimensions": {"x": i, "y": 2, "w": 3, "h": 4}, "annotation": {"label": "bird"}}]}
    for i in range(120)]
CSV = 'resource,priority,job_id,annotations\r\n"img,a.jpg",2,,\r\n' \
      'img_b.jpg,,job-7,"[{""dimensions"": {""x"": 1, ""y"": 2, ""w"": 3, ""h"": 4}, ' \
      '""annotation"": {""label"": ""nest""}}]"\r\n'
MEDIA = "application/vnd.api+json"


def gzip_upload(api, dataset, body, coding="gzip", media=NDJSON):
    return api.request("POST", f"/datasets/{factories.id_of(dataset)}/import", raw=body,
                       headers={"Content-Type": media, "Content-Encoding": coding})


def stored(api, dataset):
    """The dataset's entries as comparable values: resource -> (priority, its annotations)."""
    return {resource: (attrs["priority"], [n["annotation"] for n in notes_of(api, attrs["id"])])
            for resource, attrs in listed(api, dataset).items()}


def nothing_in(api, dataset):
    return listed(api, dataset) == {}


@pytest.fixture
def two(api):
    project = factories.project(api)
    return factories.dataset(api, project, "plain"), factories.dataset(api, project, "packed")


@pytest.mark.parametrize("media, text", [(NDJSON, ndjson(*LINES)), ("text/csv", CSV)],
                         ids=["ndjson", "csv"])
@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP, identity"])
def test_a_gzip_import_stores_what_the_plain_one_does(api, two, media, text, coding):
    plain, packed = two
    resp = upload(api, plain, text, media)
    assert resp.status_code == 200, resp.text
    zipped = gzip_upload(api, packed, gzip.compress(text.encode()), coding, media)
    assert zipped.status_code == 200, zipped.text
    assert zipped.json() == resp.json()
    assert stored(api, packed) == stored(api, plain) != {}


def test_gzip_members_concatenated_are_one_body(api, two):
    _, packed = two
    body = gzip.compress(ndjson(*LINES[:50]).encode()) + gzip.compress(ndjson(*LINES[50:]).encode())
    assert gzip_upload(api, packed, body).json()["meta"]["created"] == len(LINES)


def test_identity_is_accepted_anywhere(api, two):
    plain, _ = two
    assert upload(api, plain, ndjson(*LINES[:3])).status_code == 200
    resp = api.request("POST", f"/datasets/{plain['id']}/import", raw=ndjson(*LINES[3:5]).encode(),
                       headers={"Content-Type": NDJSON, "Content-Encoding": "identity"})
    assert resp.json()["meta"]["created"] == 2
    body = {"data": {"type": "dataset:projects", "attributes": {"name": "I", "organization_id": 1}}}
    assert api.post("/projects", body, headers={"Content-Encoding": "identity"}).status_code == 201
    assert api.get("/projects", headers={"Content-Encoding": "Identity"}).status_code == 200


def test_a_gzip_bomb_is_413_and_writes_nothing(api, two):
    _, packed = two
    bomb = ndjson(*LINES[:2]).encode() + b" " * (64 * 1024 * 1024)  # 64 MiB of blanks: ~1000:1
    body = gzip.compress(bomb)
    assert len(body) * encoding.MAX_RATIO < len(bomb)
    resp = gzip_upload(api, packed, body)
    assert resp.status_code == 413, resp.text
    assert resp.json()["errors"][0]["code"] == "compression_ratio"
    assert nothing_in(api, packed)


def test_the_decompressed_size_counts_against_the_import_limit(tmp_path):
    with app_client(tmp_path, max_import_bytes=4000) as client:
        api = factories.Api(client, token())
        ds = factories.dataset(api, factories.project(api))
        text = ndjson(*({"resource": f"r{i:03d}"} for i in range(250)))  # 5 KiB, 1 KiB packed
        assert len(gzip.compress(text.encode())) < 4000 < len(text)
        resp = gzip_upload(api, ds, gzip.compress(text.encode()))
        assert resp.status_code == 413, resp.text
        assert resp.json()["errors"][0]["code"] == "payload_too_large"
        assert nothing_in(api, ds)


def flipped(body, at):
    return body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1:]


PACKED = gzip.compress(ndjson(*LINES).encode())
CORRUPT = {"truncated": PACKED[:-9], "half": PACKED[: len(PACKED) // 2], "empty": b"",
           "not-gzip": ndjson(*LINES).encode(), "bad-crc": flipped(PACKED, len(PACKED) - 6),
           "bad-data": flipped(PACKED, 40), "trailing-junk": PACKED + b"junk",
           "zlib-not-gzip": zlib.compress(ndjson(*LINES).encode())}


@pytest.mark.parametrize("body", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_gzip_stream_is_400_and_writes_nothing(api, two, body):
    _, packed = two
    resp = gzip_upload(api, packed, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["code"] == "parse_error"
    assert "gzip" in resp.json()["errors"][0]["detail"]
    assert nothing_in(api, packed)


@pytest.mark.parametrize("coding", ["br", "deflate", "compress", "zstd", "gzip, gzip", "gzip, br"])
def test_other_codings_on_the_import_are_415(api, two, coding):
    _, packed = two
    body = gzip.compress(ndjson(*LINES).encode())
    resp = gzip_upload(api, packed, body, coding)
    assert resp.status_code == 415, resp.text
    assert resp.headers["Content-Type"] == MEDIA
    assert resp.json()["errors"][0]["code"] == "unsupported_media_type"
    assert resp.headers["Accept-Encoding"] == "gzip, identity"
    assert nothing_in(api, packed)


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
def test_any_coding_elsewhere_is_415(api, coding):
    body = json.dumps({"data": {"type": "dataset:projects",
                                "attributes": {"name": "Z", "organization_id": 1}}}).encode()
    resp = api.request("POST", "/projects", raw=gzip.compress(body) if coding == "gzip" else body,
                       headers={"Content-Type": MEDIA, "Content-Encoding": coding})
    assert resp.status_code == 415, resp.text
    assert resp.json()["errors"][0]["code"] == "unsupported_media_type"
    assert resp.headers["Accept-Encoding"] == "identity"
    assert api.get("/projects", headers={"Content-Encoding": coding}).status_code == 415
    assert api.get("/projects").json()["data"] == []


def test_any_coding_on_json_rpc_is_a_json_rpc_415(client):
    body = gzip.compress(json.dumps({"jsonrpc": "2.0", "method": "index", "id": 1}).encode())
    resp = client.post("/annotations/_rpc", content=body, headers={
        "Authorization": f"Bearer {token()}", "Content-Type": "application/json",
        "Content-Encoding": "gzip"})
    assert resp.status_code == 415, resp.text
    reply = resp.json()
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None
    assert reply["error"]["code"] == -32600 and "Content-Encoding" in reply["error"]["data"]["detail"]


# --- the client CLI ------------------------------------------------------------------------------------


def run_cli(monkeypatch, answer, *args):
    """``dataset-api import ARGS`` against a recording transport; return (exit status, requests)."""
    seen = []

    def record(request):
        seen.append((request.headers, request.read()))
        status, document = answer(len(seen), request)
        return httpx.Response(status, json=document, headers={"Content-Type": MEDIA})

    def connect(args):
        return httpx.Client(base_url="http://server.test", transport=httpx.MockTransport(record))

    monkeypatch.setattr(bulk_client, "connect", connect)
    with pytest.raises(SystemExit) as done:
        cli.main(["import", *map(str, args), "--dataset", "d1", "--token", "t"])
    return done.value.code, seen


COUNTS = {"meta": {"created": len(LINES), "updated": 0, "skipped": 0}}


@pytest.mark.parametrize("chunking", [(), ("--chunk-size", "50")], ids=["whole", "chunks"])
def test_the_client_sends_its_import_gzip_compressed(monkeypatch, tmp_path, chunking):
    path = tmp_path / "in.jsonl"
    path.write_text(ndjson(*LINES))
    status, seen = run_cli(monkeypatch, lambda n, request: (200, COUNTS), path, *chunking)
    assert status == 0
    assert all(headers["content-encoding"] == "gzip" for headers, _ in seen)
    sent = b"".join(gzip.decompress(body) for _, body in seen)
    assert sent == path.read_bytes()
    assert sum(len(body) for _, body in seen) * 5 < len(sent)


def test_the_client_sends_plain_what_the_server_finds_too_compressible(monkeypatch, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(ndjson(*LINES))
    ratio = {"errors": [{"status": "413", "code": "compression_ratio", "title": "Payload Too Large"}]}
    status, seen = run_cli(monkeypatch, lambda n, request: (413, ratio) if n == 1 else (200, COUNTS),
                           path)
    assert status == 0
    (first, _), (second, body) = seen
    assert first["content-encoding"] == "gzip" and "content-encoding" not in second
    assert body == path.read_bytes()


def test_the_client_import_through_a_live_app_is_gzip(api, two, monkeypatch, tmp_path):
    """The client's gzip body, handed to the app: stored as a plain upload stores the file."""
    plain, packed = two
    path = tmp_path / "in.jsonl"
    path.write_text(ndjson(*LINES))

    def forward(n, request):
        assert request.headers["content-encoding"] == "gzip"
        resp = gzip_upload(api, packed, request.content)
        return resp.status_code, resp.json()

    status, _ = run_cli(monkeypatch, forward, path)
    assert status == 0
    upload(api, plain, path.read_text())
    assert stored(api, packed) == stored(api, plain) != {}
