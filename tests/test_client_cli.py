"""``dataset-api import`` and ``export`` as a user runs them: the command in a subprocess against a
live ``dataset-api serve`` (tests/live.py), with DATASET_API_URL and DATASET_API_TOKEN. What is
asserted is what the user sees: the exit status, the summary and refused lines, the progress
display (``--progress`` draws it on a pipe), the files written, and the entries the server lists.
The import's display states and its streamed body are watched from inside the client, run in this
process against the same server through a transport that notes what it is handed.

SQLite by default; PostgreSQL when DATASET_API_TEST_DATABASE_URL is set, in a database of its own.
"""

import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys
from contextlib import nullcontext

import httpx
import pytest
from rich.console import Console

from dataset_api import bulkfile, client, display
from dataset_api.auth import tokens
from dataset_api.cli import parser
from tests import factories
from tests.live import PG_URL, SECRET, Client, Server, dedicated_database

ADMIN_ID, ANNOTATOR_ID = 1, 2
TIMEOUT = 120  # seconds for one command


@pytest.fixture(scope="session", autouse=True)
def fresh_postgres_schema():
    """Override conftest's: these tests run in their own database and leave the test one alone."""
    yield


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("client-cli")
    with dedicated_database() if PG_URL else nullcontext("") as database_url:  # "": SQLite in data_dir
        srv = Server(data_dir, database_url, workers=1)
        try:
            srv.start()
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def admin(server):
    client = Client(server, ADMIN_ID, role="admin")
    yield client
    client.close()


@pytest.fixture(scope="module")
def project(admin):
    home = factories.project(admin, "Bulk", 1)
    factories.member(admin, home, ANNOTATOR_ID, email=f"u{ANNOTATOR_ID}@example.com")
    return home


@pytest.fixture
def dataset(admin, project, request):
    return factories.dataset(admin, project, request.node.name[:100])


def cli(server, *args, account_id=ADMIN_ID, role="admin"):
    """Run ``dataset-api ARGS`` as ``account_id``; return the finished process (text output)."""
    token = tokens.issue(SECRET, account_id=account_id, email=f"u{account_id}@example.com", role=role)
    env = dict(os.environ, DATASET_API_URL=server.url, DATASET_API_TOKEN=token, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "dataset_api", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def listed(admin, dataset):
    """{resource: attributes} of the dataset's entries, as the server lists them."""
    resp = admin.request("GET", f"/entries?filter[dataset_id]={dataset['id']}&page[size]=1000")
    assert resp.status_code == 200, resp.text
    entries = resp.json()["data"]
    resources = [e["attributes"]["resource"] for e in entries]
    assert len(resources) == len(set(resources)), f"duplicates: {sorted(resources)}"
    return {e["attributes"]["resource"]: e["attributes"] for e in entries}


def labels(admin, dataset):
    """The annotation labels of the dataset, sorted, as the server lists them."""
    resp = admin.request("GET", f"/annotations?filter[dataset_id]={dataset['id']}&page[size]=1000")
    assert resp.status_code == 200, resp.text
    return sorted(a["attributes"]["annotation"]["label"] for a in resp.json()["data"])


def lines(n, start=0):
    """``n`` NDJSON import lines, each entry with one annotation labelled after it."""
    return [json.dumps({"resource": f"s3://bulk/{i}.jpg", "priority": i, "job_id": f"job-{i % 2}",
                        "annotations": [{"dimensions": {"x": i}, "annotation": {"label": f"l{i}"},
                                         "metadata": {"tool": "box"}}]})
            for i in range(start, start + n)]


def write(path, rows):
    path.write_text("".join(f"{row}\n" for row in rows))
    return path


def seed(server, dataset, path, rows):
    """Import ``rows`` into the dataset, as the start of a test."""
    done = cli(server, "import", write(path, rows), "--dataset", dataset["id"])
    assert done.returncode == 0, done.stderr


def test_an_ndjson_import_exports_as_lines_that_import_again(server, admin, project, dataset, tmp_path):
    source = write(tmp_path / "in.jsonl", lines(5))
    done = cli(server, "import", source, "--dataset", dataset["id"], "--progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 5, updated 0, skipped 0, refused 0"
    # the display, drawn: the lines sent, then the server's wait, with a time and no rate
    assert "5/5 lines" in done.stderr and "writing 5 lines: 200 OK" in done.stderr
    assert "/s" not in done.stderr
    entries = listed(admin, dataset)
    assert {r: (a["priority"], a["job_id"]) for r, a in entries.items()} == {
        f"s3://bulk/{i}.jpg": (i, f"job-{i % 2}") for i in range(5)}
    assert labels(admin, dataset) == [f"l{i}" for i in range(5)]

    out = tmp_path / "out.jsonl"
    done = cli(server, "export", "--dataset", dataset["id"], "--format", "jsonl", "-o", out, "--progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported 5 rows ({out.stat().st_size} bytes) to {out}"
    assert "5/5" in done.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((e["resource"], e["priority"], e["annotations"][0]["annotation"]["label"])
                  for e in exported) == [(f"s3://bulk/{i}.jpg", i, f"l{i}") for i in range(5)]

    again = factories.dataset(admin, project, "round trip")
    done = cli(server, "import", out, "--dataset", again["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 5, updated 0, skipped 0, refused 0"
    assert {r: a["priority"] for r, a in listed(admin, again).items()} == {
        r: a["priority"] for r, a in entries.items()}
    assert labels(admin, again) == labels(admin, dataset)


CSV = (
    "resource,priority,job_id,annotations\r\n"
    's3://bulk/a.jpg,1,job-a,"[{""dimensions"": {""x"": 1}, ""annotation"": {""label"": ""a""}}]"\r\n'
    '"s3://bulk/b,\nc.jpg",2,,"[{""dimensions"": {},\r\n ""annotation"": {""label"": ""b""}}]"\r\n'
    "s3://bulk/d.jpg,3,,[]\r\n"
)


@pytest.mark.parametrize("chunking", [[], ["--chunk-size", "1"]], ids=["whole", "chunked"])
def test_a_csv_import_keeps_quoted_newlines_and_commas(server, admin, dataset, tmp_path, chunking):
    source = tmp_path / "in.csv"
    source.write_text(CSV, newline="")
    done = cli(server, "import", source, "--dataset", dataset["id"], "--progress", *chunking)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 3, updated 0, skipped 0, refused 0"
    assert "3/3" in done.stderr
    entries = listed(admin, dataset)
    assert {r: (a["priority"], a["job_id"]) for r, a in entries.items()} == {
        "s3://bulk/a.jpg": (1, "job-a"), "s3://bulk/b,\nc.jpg": (2, None), "s3://bulk/d.jpg": (3, None)}
    assert labels(admin, dataset) == ["a", "b"]


@pytest.mark.parametrize("chunking, written", [([], 0), (["--chunk-size", "2"], 4)], ids=["whole", "chunked"])
def test_a_refused_line_is_named_by_its_line_in_the_file(server, admin, dataset, tmp_path, chunking, written):
    good = lines(6)
    # file line 5 (a blank line 2 before it) misses its resource; chunks of 2: lines 1, 3 | 4, 5 | 6, 7
    source = write(tmp_path / "in.jsonl", [good[0], "", good[1], good[2], '{"priority": 1}', *good[3:5]])
    done = cli(server, "import", source, "--dataset", dataset["id"], *chunking)
    assert done.returncode == 1
    refused = [line for line in done.stderr.splitlines() if line.startswith(f"{source}:")]
    assert len(refused) == 1 and refused[0].startswith(f"{source}:5: "), done.stderr
    assert "refused 1" in done.stdout and "not written" in done.stdout
    assert len(listed(admin, dataset)) == written  # whole: nothing; chunked: all but the bad chunk


def test_a_chunked_import_resumed_writes_no_duplicate(server, admin, dataset, tmp_path):
    everything = lines(10)
    first = write(tmp_path / "first.jsonl", everything[:4])  # what an interrupted run had sent
    done = cli(server, "import", first, "--dataset", dataset["id"], "--chunk-size", "2")
    assert (done.returncode, done.stdout.strip()) == (0, "created 4, updated 0, skipped 0, refused 0")

    source = write(tmp_path / "all.jsonl", everything)
    done = cli(server, "import", source, "--dataset", dataset["id"], "--chunk-size", "3", "--progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 6, updated 0, skipped 4, refused 0"
    assert "10/10 lines" in done.stderr and "chunk 4/4" in done.stderr and "lines/s" in done.stderr
    assert sorted(listed(admin, dataset)) == sorted(f"s3://bulk/{i}.jpg" for i in range(10))
    assert labels(admin, dataset) == sorted(f"l{i}" for i in range(10))


def test_a_chunked_import_with_update_rewrites_what_is_there(server, admin, dataset, tmp_path):
    seed(server, dataset, tmp_path / "a.jsonl", lines(3))
    moved = [json.dumps({**json.loads(line), "priority": 9, "annotations": []}) for line in lines(4)]
    done = cli(server, "import", write(tmp_path / "b.jsonl", moved), "--dataset", dataset["id"],
               "--chunk-size", "2", "--on-conflict", "update")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 1, updated 3, skipped 0, refused 0"
    assert {a["priority"] for a in listed(admin, dataset).values()} == {9}


def test_an_annotator_may_not_import(server, admin, dataset, tmp_path):
    source = write(tmp_path / "in.jsonl", lines(2))
    token = tokens.issue(SECRET, account_id=ANNOTATOR_ID, email=f"u{ANNOTATOR_ID}@example.com", role="user")
    resp = httpx.post(f"{server.url}/datasets/{dataset['id']}/import", content=source.read_bytes(),
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 403
    done = cli(server, "import", source, "--dataset", dataset["id"], account_id=ANNOTATOR_ID, role="user")
    assert done.returncode == 1
    assert "403 Forbidden" in done.stderr and resp.json()["errors"][0]["detail"] in done.stderr
    assert listed(admin, dataset) == {}


def test_an_export_replaces_its_file_only_when_whole(server, admin, dataset, tmp_path):
    seed(server, dataset, tmp_path / "in.jsonl", lines(6))
    out = tmp_path / "out.csv"
    out.write_text("the previous export\n")

    done = cli(server, "export", "--dataset", "no-such-dataset", "--format", "csv", "-o", out)
    assert done.returncode == 1 and "404" in done.stderr
    assert out.read_text() == "the previous export\n"  # a failed export leaves FILE as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.csv"]

    done = cli(server, "export", "--dataset", dataset["id"], "--format", "csv", "-o", out,
               "--filter", "priority__gte=4", "--progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported 2 rows ({out.stat().st_size} bytes) to {out}"
    assert "2/2" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.csv"]  # no out.csv.part
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((row["resource"], row["priority"], json.loads(row["annotations"])[0]["annotation"]["label"])
                  for row in rows) == [("s3://bulk/4.jpg", "4", "l4"), ("s3://bulk/5.jpg", "5", "l5")]


def test_a_coco_export_lists_the_images(server, admin, dataset, tmp_path):
    seed(server, dataset, tmp_path / "in.jsonl", lines(3))
    out = tmp_path / "coco.json"
    done = cli(server, "export", "--dataset", dataset["id"], "--format", "coco", "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported {out.stat().st_size} bytes to {out}"
    assert len(json.loads(out.read_text())["images"]) == 3


@pytest.mark.parametrize("args, message", [
    (["import", "in.txt", "--dataset", "d"], "give --format"),
    (["import", "in.jsonl", "--dataset", "d", "--chunk-size", "0"], "positive integer"),
    (["export", "--dataset", "d", "--format", "jsonl", "-o", "x", "--filter", "wf_step"], "NAME=VALUE"),
    (["export", "--dataset", "d", "--format", "xml", "-o", "x"], "invalid choice"),
])
def test_usage_errors_exit_with_2(tmp_path, args, message):
    env = dict(os.environ, DATASET_API_URL="http://127.0.0.1:9", DATASET_API_TOKEN="t")
    done = subprocess.run([sys.executable, "-m", "dataset_api", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_a_missing_token_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATASET_API_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "dataset_api", "export", "--dataset", "d", "--format",
                           "jsonl", "-o", "x"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 2 and "DATASET_API_TOKEN" in done.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


# --- the import's display and its upload, seen from inside the client --------------------------------

def screen(bar):
    """The display as the terminal shows it now: its text, drawn once."""
    out = Console(record=True, force_terminal=True, width=150, file=io.StringIO())
    out.print(bar.get_renderable())
    return out.export_text()


class Watching(httpx.HTTPTransport):
    """The real transport, which also notes what the client hands it: the size of each piece of a
    body, and the display as each request begins, as its first piece goes and once its last went."""

    def __init__(self, bar):
        super().__init__()
        self.bar, self.pieces, self.shown, self.bodies = bar, [], [], []

    def handle_request(self, request):
        self.shown.append(("request", screen(self.bar)))
        self.bodies.append((request.stream, request.headers.get("Content-Length")))
        body, watch = request.stream, self

        class Seen(httpx.SyncByteStream):
            def __iter__(self):
                for i, piece in enumerate(body):
                    if i == 0:
                        watch.shown.append(("first", screen(watch.bar)))
                    watch.pieces.append(piece)
                    yield piece
                watch.shown.append(("sent", screen(watch.bar)))

        request.stream = Seen()
        return super().handle_request(request)


def importing(server, dataset, path, *options):
    """Run the client's import of ``path`` in this process, through a Watching transport to the
    live server; return (tally, display, transport)."""
    args = parser().parse_args(["import", str(path), "--dataset", dataset["id"], "--progress", *options])
    out = Console(record=True, force_terminal=True, width=150, file=io.StringIO())
    bar = display.import_display(True, out)
    watch = Watching(bar)
    token = tokens.issue(SECRET, account_id=ADMIN_ID, email=f"u{ADMIN_ID}@example.com", role="admin")
    with httpx.Client(base_url=server.url, transport=watch, timeout=client.TIMEOUT,
                      headers={"Authorization": f"Bearer {token}"}) as http, bar:
        run = client.import_chunks if args.chunk_size else client.import_whole
        tally = run(http, args, "ndjson", bar)
    return tally, bar, watch


ELAPSED = re.compile(r"\d+:\d\d:\d\d")


def test_one_request_shows_the_lines_sent_then_the_server_writing_without_a_rate(server, admin, dataset,
                                                                                 tmp_path):
    source = write(tmp_path / "in.jsonl", lines(3000))  # several blocks of the file
    assert source.stat().st_size > 2 * bulkfile.BLOCK
    tally, bar, watch = importing(server, dataset, source)
    assert tally.counts == {"created": 3000, "updated": 0, "skipped": 0}
    shown = dict(watch.shown)
    # as the first piece goes, only the file's first block is read: the body streams from it
    first = re.search(r"sending .* ([\d,]+)/3,000 lines", shown["first"])
    assert first and int(first[1].replace(",", "")) < 3000, shown["first"]
    # once the last went, the server is writing: the lines, a clock, no rate
    assert "sent" in shown["sent"] and "3,000/3,000 lines" in shown["sent"]
    writing = next(row for row in shown["sent"].splitlines() if "writing 3,000 lines" in row)
    assert ELAPSED.search(writing) and "/s" not in shown["sent"]
    # the answer stops the clock
    done = screen(bar)
    assert "✓ writing 3,000 lines: 200 OK" in done and "/s" not in done
    assert "writing 3,000 lines" in bar.console.export_text()  # drawn on the console too

    # streamed: pieces of at most a block, gzip, that add up to the file
    assert len(watch.pieces) > 1 and max(map(len, watch.pieces)) <= bulkfile.BLOCK
    assert gzip.decompress(b"".join(watch.pieces)) == source.read_bytes()
    resp = admin.request("GET", f"/entries?filter[dataset_id]={dataset['id']}&page[size]=1&count=true")
    assert resp.json()["meta"]["count"] == 3000


def test_a_chunked_import_shows_the_rate_the_server_confirmed(server, dataset, tmp_path):
    source = write(tmp_path / "in.jsonl", lines(6))
    tally, bar, watch = importing(server, dataset, source, "--chunk-size", "2")
    assert tally.counts == {"created": 6, "updated": 0, "skipped": 0}
    before = [text for when, text in watch.shown if when == "request"]
    assert len(before) == 3
    assert "chunk 1/3" in before[0] and "0/6 lines" in before[0] and "/s" not in before[0]  # no answer yet
    for number, text in enumerate(before[1:], 2):  # each answer moved the lines and the rate
        assert f"chunk {number}/3" in text and f"{2 * (number - 1)}/6 lines" in text, text
        assert re.search(r"[\d,]+ lines/s, \d+:\d\d:\d\d left", text), text
    done = screen(bar)
    assert "6/6 lines" in done and "lines/s, 0:00:00 left" in done
    # each chunk goes with its length, as an iterator that lets go of it once sent (httpx would
    # hold a bytes body in its response's reference cycle until the garbage collector runs)
    assert all(not isinstance(stream, httpx.ByteStream) and int(length) > 0
               for stream, length in watch.bodies)
    sent = b"".join(gzip.decompress(bytes(piece)) for piece in watch.pieces)
    assert sent == source.read_bytes()


def test_an_attempt_again_starts_the_display_over():
    bar = display.import_display(True, Console(force_terminal=True, width=150, file=io.StringIO()))
    upload = display.Upload(bar, 7)
    upload.start()
    upload.advance(7)
    upload.sent()
    assert "writing 7 lines" in screen(bar)
    upload.start()  # a 503, a lost connection or a body to send plain: the file is read again
    again = screen(bar)
    assert "sending" in again and "0/7 lines" in again and "writing" not in again
