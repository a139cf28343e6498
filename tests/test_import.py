"""``POST /datasets/{id}/import``: NDJSON and CSV in, entries and pre-annotations stored as if each
had been created alone; bad lines refused with their line numbers, all or nothing unless partial."""

import json
import socket
import time
from contextlib import nullcontext

import pytest

from dataset_api.auth import tokens
from tests import factories
from tests.conftest import PG_URL, app_client, token
from tests.live import SECRET, Server, dedicated_database

NDJSON = "application/x-ndjson"
BOX = {"x": 1, "y": 2, "w": 30, "h": 40}


def ndjson(*lines):
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def upload(api, dataset, text, media=NDJSON, **query):
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return api.request(
        "POST",
        f"/datasets/{factories.id_of(dataset)}/import" + (f"?{params}" if params else ""),
        raw=text.encode() if isinstance(text, str) else text,
        headers={"Content-Type": media},
    )


def listed(api, dataset):
    """{resource: attributes} of the dataset's entries, over the index."""
    resp = api.get(f"/entries?filter[dataset_id]={factories.id_of(dataset)}&page[size]=1000&sort=created_at")
    return {e["attributes"]["resource"]: e["attributes"] | {"id": e["id"]} for e in resp.json()["data"]}


def notes_of(api, entry_id):
    resp = api.get(f"/annotations?filter[entry_id]={entry_id}&sort=created_at")
    return [a["attributes"] for a in resp.json()["data"]]


def counters(api, dataset):
    attrs = api.get(f"/datasets/{factories.id_of(dataset)}").json()["data"]["attributes"]
    return {
        k: attrs[k]
        for k in ("entries_total_count", "entries_completed_count", "entries_in_progress_count", "status")
    }


@pytest.fixture
def dataset(api):
    return factories.dataset(api, factories.project(api))


def line_errors(resp):
    return [(e["meta"]["line"], e["source"]["pointer"], e["code"]) for e in resp.json()["errors"]]


# --- what gets stored -----------------------------------------------------------------------------


def test_ndjson_creates_entries_and_preannotations(api, dataset):
    resp = upload(
        api,
        dataset,
        ndjson(
            {
                "resource": "a.jpg",
                "priority": 3,
                "job_id": "batch-1",
                "annotations": [
                    {"dimensions": BOX, "annotation": {"label": "bird"}, "metadata": {"model": "v2"}}
                ],
            },
            {"resource": "b.jpg"},
            "",  # blank lines are skipped
            {"resource": "c.jpg", "priority": -2, "job_id": None, "annotations": []},
        ),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"meta": {"created": 3, "updated": 0, "skipped": 0}}
    entries = listed(api, dataset)
    assert list(entries) == ["a.jpg", "b.jpg", "c.jpg"]  # created in file order
    a = entries["a.jpg"]
    assert (a["priority"], a["job_id"], a["wf_step"], a["status"], a["assigned_to_id"]) == (
        3,
        "batch-1",
        "annotate",
        "pending",
        None,
    )
    assert (entries["b.jpg"]["priority"], entries["b.jpg"]["job_id"]) == (0, None)
    [note] = notes_of(api, a["id"])
    assert (note["dimensions"], note["annotation"], note["metadata"]) == (
        BOX,
        {"label": "bird"},
        {"model": "v2"},
    )
    assert note["created_by_email"] == "admin@example.com" and note["dataset_id"] == dataset["id"]
    assert counters(api, dataset) == {
        "entries_total_count": 3,
        "entries_completed_count": 0,
        "entries_in_progress_count": 0,
        "status": "pending",
    }


def test_imported_entries_join_the_queue_in_file_order(api):
    dataset = factories.dataset(api, factories.project(api), sample_rate=0)  # submit: straight to done
    upload(
        api,
        dataset,
        ndjson(*({"resource": f"q{i}.jpg"} for i in range(5)), {"resource": "top.jpg", "priority": 9}),
    )
    claimed = []
    for _ in range(6):
        entry = factories.expect(factories.next_entry(api, dataset), 200)
        claimed.append(entry["attributes"]["resource"])
        factories.submit(api, entry)
    assert claimed == ["top.jpg", "q0.jpg", "q1.jpg", "q2.jpg", "q3.jpg", "q4.jpg"]


def test_csv_with_quoted_fields_and_annotations(api, dataset):
    text = (
        "resource,priority,job_id,annotations\r\n"
        '"line\nbreak.jpg",2,,\r\n'
        'plain.jpg,,job-7,"[{""dimensions"": {""x"": 1, ""y"": 2, ""w"": 3, ""h"": 4}, '
        '""annotation"": {""label"": ""nest""}}]"\r\n'
    )
    resp = upload(api, dataset, text, "text/csv; charset=utf-8")
    assert resp.json()["meta"]["created"] == 2, resp.text
    entries = listed(api, dataset)
    assert (entries["line\nbreak.jpg"]["priority"], entries["line\nbreak.jpg"]["job_id"]) == (2, None)
    assert (entries["plain.jpg"]["priority"], entries["plain.jpg"]["job_id"]) == (0, "job-7")
    assert [n["annotation"] for n in notes_of(api, entries["plain.jpg"]["id"])] == [{"label": "nest"}]


def test_export_only_members_are_ignored(api, dataset):
    line = {
        "id": "0193a1b2-0003-7000-8000-000000000000",
        "resource": "x.jpg",
        "wf_step": "done",
        "status": "completed",
        "assigned_to_id": 5,
        "created_at": "2020-01-01T00:00:00Z",
        "annotations": [{"id": "whatever", "dimensions": BOX, "annotation": {}, "created_by_email": "x@y"}],
    }
    assert upload(api, dataset, ndjson(line)).status_code == 200
    entry = listed(api, dataset)["x.jpg"]
    assert entry["id"] != line["id"] and (entry["wf_step"], entry["status"]) == ("annotate", "pending")
    assert notes_of(api, entry["id"])[0]["created_by_email"] == "admin@example.com"


# --- bad lines ------------------------------------------------------------------------------------


def test_bad_lines_refuse_the_whole_import_with_their_line_numbers(api, dataset):
    resp = upload(
        api,
        dataset,
        ndjson(
            {"resource": "ok.jpg"},
            {"priority": 1},
            "{not json",
            {"resource": "  "},
            {"resource": "p.jpg", "priority": 2**31},
            {"resource": "u.jpg", "colour": "red"},
            {"resource": "n.jpg", "annotations": [{"dimensions": BOX}]},
            {"resource": "z.jpg", "job_id": "a\u0000b"},
            [1, 2],
        ),
    )
    assert resp.status_code == 422, resp.text
    assert line_errors(resp) == [
        (2, "/resource", "required"),
        (3, "", "parse_error"),
        (4, "/resource", "invalid"),
        (5, "/priority", "invalid"),
        (6, "/colour", "invalid"),
        (7, "/annotations/0/annotation", "required"),
        (8, "/job_id", "invalid"),
        (9, "", "invalid"),
    ]
    assert resp.json()["meta"] == {"error_count": 8}
    assert listed(api, dataset) == {}


def test_a_bad_line_at_the_end_of_a_large_file_writes_nothing(api, dataset):
    good = [
        {"resource": f"big-{i}.jpg", "annotations": [{"dimensions": BOX, "annotation": {"n": i}}]}
        for i in range(3000)
    ]
    resp = upload(api, dataset, ndjson(*good, {"resource": "last.jpg", "priority": "high"}))
    assert resp.status_code == 422
    assert line_errors(resp) == [(3001, "/priority", "invalid")]
    assert counters(api, dataset)["entries_total_count"] == 0
    assert api.get("/annotations?count=true&page[size]=1").json()["meta"]["count"] == 0


def test_a_resource_repeated_in_the_file_is_a_bad_line(api, dataset):
    resp = upload(
        api, dataset, ndjson({"resource": "a"}, {"resource": "b"}, {"resource": "a"}, {"resource": "a"})
    )
    assert line_errors(resp) == [(3, "/resource", "duplicate"), (4, "/resource", "duplicate")]
    assert "line 1" in resp.json()["errors"][0]["detail"]


def test_partial_writes_the_good_lines_and_lists_the_bad(api, dataset):
    resp = upload(
        api,
        dataset,
        ndjson({"resource": "a"}, {"resource": "b", "priority": "x"}, {"resource": "c"}),
        partial="true",
    )
    assert resp.status_code == 200, resp.text
    meta = resp.json()["meta"]
    assert (meta["created"], meta["error_count"]) == (2, 1)
    assert [(e["meta"]["line"], e["source"]["pointer"]) for e in meta["errors"]] == [(2, "/priority")]
    assert set(listed(api, dataset)) == {"a", "c"}


def test_csv_errors_name_the_line_a_record_starts_on(api, dataset):
    text = 'resource,priority\n"two\nlines",1\nbad,x\n,3\n'
    resp = upload(api, dataset, text, "text/csv")
    assert line_errors(resp) == [(4, "/priority", "invalid"), (5, "/resource", "invalid")]


def test_csv_header_problems(api, dataset):
    """Behind a bad header every record is a bad line saying what is wrong with the header (none can
    be read without it); the header is no record, so the counts add up to the records."""
    resp = upload(api, dataset, "resource,colour\na,red\n\nb,blue\n", "text/csv")
    assert line_errors(resp) == [(2, "/colour", "invalid"), (4, "/colour", "invalid")]
    assert all("header (line 1) is bad" in e["detail"] and "colour" in e["detail"]
               for e in resp.json()["errors"])
    assert line_errors(upload(api, dataset, "priority\n1\n", "text/csv")) == [(2, "/resource", "required")]
    resp = upload(api, dataset, '"resource\n1\n', "text/csv")  # a quote that never closes
    assert line_errors(resp) == [(2, "", "parse_error")]
    assert "header (line 1)" in resp.json()["errors"][0]["detail"]
    partial = upload(api, dataset, "resource,colour\na,red\nb,blue\n", "text/csv", partial="true")
    assert partial.json()["meta"]["created"] == 0 and partial.json()["meta"]["error_count"] == 2
    # a bad header and nothing after it: the header's own line
    assert line_errors(upload(api, dataset, "resource,colour\n", "text/csv")) == [(1, "/colour", "invalid")]


def test_an_overlong_line_is_bad_and_the_rest_still_read(api, dataset):
    huge = json.dumps({"resource": "h", "job_id": "x" * (1024 * 1024)})
    resp = upload(api, dataset, ndjson({"resource": "a"}, huge, {"resource": "b", "priority": "x"}))
    assert line_errors(resp) == [(2, "", "invalid"), (3, "/priority", "invalid")]


# --- conflicts with what the dataset holds ---------------------------------------------------------


@pytest.fixture
def held(api, dataset):
    """Three entries already in the dataset: pending, in progress (claimed), pending with a note."""
    pending = factories.entry(api, dataset, "pending.jpg", priority=1, job_id="old")
    factories.annotation(api, pending, label="old")
    busy = factories.entry(api, dataset, "busy.jpg", priority=100)
    factories.expect(factories.next_entry(api, dataset), 200)
    return {"pending": pending, "busy": busy}


def test_on_conflict_error_refuses_existing_resources(api, dataset, held):
    resp = upload(api, dataset, ndjson({"resource": "new.jpg"}, {"resource": "pending.jpg"}))
    assert line_errors(resp) == [(2, "/resource", "duplicate")]
    assert "new.jpg" not in listed(api, dataset)


def test_on_conflict_skip_leaves_existing_entries(api, dataset, held):
    resp = upload(
        api,
        dataset,
        ndjson({"resource": "new.jpg"}, {"resource": "pending.jpg", "priority": 7}),
        on_conflict="skip",
    )
    assert resp.json()["meta"] == {"created": 1, "updated": 0, "skipped": 1}
    assert listed(api, dataset)["pending.jpg"]["priority"] == 1


def test_on_conflict_update_sets_values_and_replaces_annotations_of_pending_entries(api, dataset, held):
    before = counters(api, dataset)
    resp = upload(
        api,
        dataset,
        ndjson(
            {
                "resource": "pending.jpg",
                "priority": 7,
                "job_id": "new",
                "annotations": [{"dimensions": BOX, "annotation": {"label": "fresh"}}],
            },
            {"resource": "busy.jpg", "priority": 50},
            {"resource": "new.jpg"},
        ),
        on_conflict="update",
    )
    assert resp.json()["meta"] == {"created": 1, "updated": 2, "skipped": 0}, resp.text
    entries = listed(api, dataset)
    assert (entries["pending.jpg"]["priority"], entries["pending.jpg"]["job_id"]) == (7, "new")
    assert [n["annotation"] for n in notes_of(api, entries["pending.jpg"]["id"])] == [{"label": "fresh"}]
    assert entries["busy.jpg"]["priority"] == 50 and entries["busy.jpg"]["status"] == "in_progress"
    etag = api.get(f"/entries/{held['pending']['id']}").headers["ETag"]
    assert etag.endswith('.2"')  # its version moved: a client holding the old ETag gets 412
    assert counters(api, dataset)["entries_total_count"] == before["entries_total_count"] + 1


def test_on_conflict_update_keeps_annotations_of_entries_at_work(api, dataset, held):
    resp = upload(api, dataset, ndjson({"resource": "busy.jpg", "annotations": []}), on_conflict="update")
    assert line_errors(resp) == [(1, "/annotations", "entry_in_use")]


def test_counters_equal_a_recount_after_imports(api, dataset, held):
    from dataset_api.workflow import counters as workflow_counters

    upload(api, dataset, ndjson(*({"resource": f"r{i}"} for i in range(50))))
    upload(api, dataset, ndjson({"resource": "r1"}, {"resource": "s1"}), on_conflict="skip")
    imported = counters(api, dataset)
    workflow_counters.recount(dataset["id"])
    assert counters(api, dataset) == imported
    assert imported["entries_total_count"] == 53 and imported["entries_in_progress_count"] == 1


# --- who may, and what the route refuses ------------------------------------------------------------


def test_who_may_import(api, client, dataset):
    project_id = dataset["attributes"]["project_id"]
    factories.member(api, project_id, 21, role="annotator")
    factories.member(api, project_id, 22, role="project_owner")
    annotator, owner = factories.caller(client, 21), factories.caller(client, 22)
    stranger = factories.caller(client, 23, role="org_owner", orgs=(99,))
    assert upload(annotator, dataset, ndjson({"resource": "a"})).status_code == 403
    assert upload(stranger, dataset, ndjson({"resource": "a"})).status_code == 404
    assert upload(owner, dataset, ndjson({"resource": "a"})).status_code == 200
    assert list(listed(api, dataset)) == ["a"]


def test_refusals_of_the_route(api, dataset):
    assert upload(api, dataset, ndjson({"resource": "a"}), "application/json").status_code == 415
    assert upload(api, dataset, ndjson({"resource": "a"}), "text/csv; charset=latin-1").status_code == 415
    resp = upload(api, dataset, ndjson({"resource": "a"}), on_conflict="merge")
    assert resp.status_code == 400 and resp.json()["errors"][0]["source"]["parameter"] == "on_conflict"
    assert upload(api, "0193a1b2-0000-7000-8000-000000000000", ndjson({"resource": "a"})).status_code == 404
    assert upload(api, dataset, b"\xff\xfe{}\n").json()["errors"][0]["code"] == "parse_error"
    assert upload(api, dataset, "").json()["meta"] == {"created": 0, "updated": 0, "skipped": 0}


def test_the_import_limit_is_its_own(tmp_path):
    with app_client(tmp_path, max_import_bytes=2000, max_body_bytes=350) as client:
        api = factories.Api(client, token())
        ds = factories.dataset(api, factories.project(api))
        assert upload(api, ds, ndjson(*({"resource": f"r{i}"} for i in range(20)))).status_code == 200
        resp = upload(api, ds, ndjson(*({"resource": f"s{i}"} for i in range(200))))
        assert resp.status_code == 413, resp.text
        assert listed(api, ds).keys() == {f"r{i}" for i in range(20)}


# --- a live server: the upload is read before anything is written --------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with dedicated_database() if PG_URL else nullcontext("") as database_url:
        with Server(tmp_path_factory.mktemp("import"), database_url, workers=1) as srv:
            yield srv


def test_a_client_dropped_mid_upload_leaves_nothing(server):
    import httpx

    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/vnd.api+json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        api = factories.Api(_HttpxAdapter(http), None)
        ds = factories.dataset(api, factories.project(api))
        body = ndjson(*({"resource": f"d{i}.jpg"} for i in range(2000))).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                f"POST /datasets/{ds['id']}/import HTTP/1.1\r\nHost: t\r\n"
                f"Authorization: Bearer {bearer}\r\nContent-Type: {NDJSON}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
            time.sleep(0.5)
        time.sleep(0.5)
        assert http.get(f"/datasets/{ds['id']}").json()["data"]["attributes"]["entries_total_count"] == 0
        assert http.get(f"/entries?filter[dataset_id]={ds['id']}&count=true").json()["meta"]["count"] == 0
        resp = http.post(f"/datasets/{ds['id']}/import", content=body, headers={"Content-Type": NDJSON})
        assert resp.json()["meta"]["created"] == 2000  # the server is fine afterwards
        assert "Traceback" not in server.log()


class _HttpxAdapter:
    """An httpx client shaped like the test client ``Api`` wraps."""

    def __init__(self, http):
        self.http = http

    def request(self, method, path, content=None, headers=None, **kw):
        return self.http.request(method, path, content=content, headers=headers, **kw)


def test_csv_text_keeps_unicode_line_separators_inside_fields(api, dataset):
    """csv writes U+0085 and U+2028 unquoted: they are text, not the end of a record."""
    resp = upload(api, dataset, "resource,job_id\na\x85b,c\u2028d\n", "text/csv")
    assert resp.json()["meta"]["created"] == 1, resp.text
    assert listed(api, dataset)["a\x85b"]["job_id"] == "c\u2028d"


def test_text_round_trips_through_the_bulk_write(api, dataset):
    """Backslashes, tabs and line breaks survive the set-based write (PostgreSQL's COPY escapes)."""
    odd = "back\\slash\ttab\r\nline \\N"
    notes = [{"dimensions": {"k\t": "v\\"}, "annotation": {"text": odd}, "metadata": {"\n": None}}]
    assert (
        upload(api, dataset, ndjson({"resource": odd, "job_id": odd, "annotations": notes})).status_code
        == 200
    )
    entry = listed(api, dataset)[odd]
    assert entry["job_id"] == odd
    [note] = notes_of(api, entry["id"])
    assert (note["dimensions"], note["annotation"], note["metadata"]) == (
        {"k\t": "v\\"},
        {"text": odd},
        {"\n": None},
    )


# --- a bad CSV record costs only its own line ----------------------------------------------------------

MIB = 1024 * 1024
# (record, code): what makes a record bad however the rest of the file is
CSV_FAULTS = {
    "bad_byte": (b"bad\xff\xfe.jpg,1", "parse_error"),
    "too_long": (b"long.jpg," + b"7" * MIB, "invalid"),
    "too_wide": (b"wide.jpg,1,extra", "invalid"),
    "too_narrow": (b"narrow.jpg", "invalid"),
    "unclosed": (b'"open.jpg,1', "parse_error"),
}


def csv_file(rows, faults, ending=b"\r\n"):
    """A CSV body of ``rows`` good records with ``faults`` ({index: record}) put before the good
    record of that index (or at the end), and the line each fault starts on."""
    out, at = [b"resource,priority"], {}
    for i in range(rows + 1):
        if i in faults:
            at[i] = sum(1 + piece.count(b"\n") for piece in out) + 1
            out.append(faults[i])
        if i < rows:
            out.append(b"r%d.jpg,%d" % (i, i))
    return ending.join(out), at


@pytest.mark.parametrize("kind", CSV_FAULTS)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_bad_csv_record_is_one_bad_line_and_the_rest_is_read(api, dataset, kind, where):
    record, code = CSV_FAULTS[kind]
    index = {"start": 0, "middle": 25, "end": 50}[where]
    body, at = csv_file(50, {index: record})
    refused = upload(api, dataset, body, "text/csv")
    assert refused.status_code == 422, refused.text
    assert line_errors(refused) == [(at[index], "", code)]
    assert refused.json()["meta"] == {"error_count": 1} and listed(api, dataset) == {}
    resp = upload(api, dataset, body, "text/csv", partial="true")
    meta = resp.json()["meta"]
    assert (meta["created"], meta["error_count"]) == (50, 1), resp.text
    assert [(e["meta"]["line"], e["code"]) for e in meta["errors"]] == [(at[index], code)]
    assert set(listed(api, dataset)) == {f"r{i}.jpg" for i in range(50)}


def test_every_bad_csv_record_is_listed_with_its_line(api, dataset):
    faults = {0: CSV_FAULTS["bad_byte"][0], 3: b'"multi\nline.jpg",x', 7: CSV_FAULTS["too_wide"][0],
              9: b'"a"b.jpg,1', 12: CSV_FAULTS["too_long"][0], 20: CSV_FAULTS["unclosed"][0]}
    body, at = csv_file(20, faults, ending=b"\n")
    resp = upload(api, dataset, body, "text/csv")
    assert [line for line, _, _ in line_errors(resp)] == sorted(at.values())
    assert at[7] == 12  # after the header, the bad byte's line, 7 good ones and the quoted two
    resp = upload(api, dataset, body, "text/csv", partial="true")
    assert resp.json()["meta"]["created"] == 20 and resp.json()["meta"]["error_count"] == 6


def test_a_stray_quote_costs_its_line_only(api, dataset):
    """An opening quote closed by a later record's: the record is bad at its line, and reading
    starts again on the next line, so the records after it, quoted ones too, are read."""
    notes = b'"[{""dimensions"": {}, ""annotation"": {""label"": ""x""}}]"'
    body = b"resource,priority,annotations\n\"stray.jpg,1,\nb.jpg,2," + notes + b'\n"c\nd.jpg",3,\n'
    resp = upload(api, dataset, body, "text/csv", partial="true")
    assert line_errors_of(resp.json()["meta"]) == [(2, "", "parse_error")]
    assert set(listed(api, dataset)) == {"b.jpg", "c\nd.jpg"}


def line_errors_of(meta):
    return [(e["meta"]["line"], e["source"]["pointer"], e["code"]) for e in meta["errors"]]


def test_a_large_csv_file_with_faults_accounts_for_every_record(api, dataset):
    """10,001 records with a bad byte near the end (where the csv module used to stop, dropping
    the rest unreported), a record over 1 MiB and a quote that never closes: every record is
    created or listed, at its line."""
    faults = {4000: CSV_FAULTS["too_long"][0], 9740: CSV_FAULTS["bad_byte"][0],
              9998: CSV_FAULTS["unclosed"][0]}
    body, at = csv_file(9998, faults)
    resp = upload(api, dataset, body, "text/csv")
    assert line_errors(resp) == [(at[4000], "", "invalid"), (at[9740], "", "parse_error"),
                                 (at[9998], "", "parse_error")]
    assert counters(api, dataset)["entries_total_count"] == 0
    meta = upload(api, dataset, body, "text/csv", partial="true").json()["meta"]
    assert meta["created"] + meta["updated"] + meta["skipped"] + meta["error_count"] == 10001
    assert (meta["created"], meta["error_count"]) == (9998, 3)
    assert counters(api, dataset)["entries_total_count"] == 9998


def test_a_csv_field_may_be_as_long_as_a_record(api, dataset):
    """The csv module stops at fields over 128 KiB by default; a record is allowed 1 MiB."""
    notes = [{"dimensions": {}, "annotation": {"text": "n" * 300_000}}]
    cell = json.dumps(notes).replace('"', '""')
    resp = upload(api, dataset, f'resource,annotations\nlong.jpg,"{cell}"\n', "text/csv")
    assert resp.json()["meta"]["created"] == 1, resp.text
    assert notes_of(api, listed(api, dataset)["long.jpg"]["id"])[0]["annotation"] == notes[0]["annotation"]


def test_past_a_thousand_bad_lines_the_first_are_listed_and_all_counted(api, dataset):
    body = b"resource,priority\n" + b"".join(b"w%d,1,x\nr%d,1\n" % (i, i) for i in range(1500))
    resp = upload(api, dataset, body, "text/csv", partial="true")
    meta = resp.json()["meta"]
    assert (meta["created"], meta["error_count"], len(meta["errors"])) == (1500, 1500, 1000)
    assert [e["meta"]["line"] for e in meta["errors"]] == list(range(2, 2002, 2))
