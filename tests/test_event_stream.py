"""The live event stream (``GET /events/stream``, Server-Sent Events; docs/events.md "Live"): the
log's events with its filters and visibility, resumed exactly after ``Last-Event-ID``, ``reset``
when it cannot be; and against a live ``dataset-api serve``: a write reaching an open stream,
heartbeats, the bound on open streams, a token's expiry, SIGTERM, a kill -9 and a restart, and two
instances feeding one stream. On SQLite and on PostgreSQL."""

import json
import os
import queue
import subprocess
import threading
import time

import httpx
import pytest

from dataset_api.auth import tokens
from dataset_api.events import outbox
from tests import factories as f
from tests.conftest import Api, app_client, token
from tests.live import (
    CHECKS,
    CHROMIUM,
    PG_URL,
    SECRET,
    Server,
    dedicated_database,
    npm_ci_checks,
    require_browser,
    step,
)

SSE = "text/event-stream"


def parse(text):
    """The messages of an event stream: dicts of their fields (``comment`` for a comment line)."""
    messages, fields = [], {}
    for line in text.split("\n"):
        if line == "":
            if fields:
                messages.append(fields)
            fields = {}
        elif line.startswith(":"):
            messages.append({"comment": line[1:].strip()})
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return messages


def events(messages):
    return [m for m in messages if "event" in m]


@pytest.fixture
def world(tmp_path):
    with app_client(tmp_path) as client:
        yield client, Api(client, token())


def replay(client, bearer=None, query="", **headers):
    """The whole stream with ``follow=false``: (status, headers, messages)."""
    headers = {"Accept": SSE, **({"Authorization": f"Bearer {bearer or token()}"}), **headers}
    resp = client.get(f"/events/stream?follow=false{query}", headers=headers)
    return resp.status_code, resp.headers, parse(resp.text) if resp.status_code == 200 else resp.json()


def test_the_stream_replays_the_log_as_get_events_shows_it(world):
    client, api = world
    tree = f.tree(api)
    f.every_event(api, client, f.project(api, "Every event"))
    gone = f.project(api, "Gone")
    assert api.delete(f"/projects/{gone['id']}").status_code == 204
    status, headers, messages = replay(client, query="&last_event_id=")
    assert status == 200 and headers["content-type"].startswith(SSE)
    listed = api.get("/events?page[cursor]=&page[size]=1000").json()["data"]
    sent = events(messages)
    assert {m["event"] for m in sent} == set(outbox.names())  # every kind of event
    assert [m["event"] for m in sent] == [e["attributes"]["name"] for e in listed]
    assert [json.loads(m["data"]) for m in sent] == [
        {k: v for k, v in e.items() if k != "meta"} for e in listed]
    assert [m["id"] for m in sent] == [e["meta"]["page"]["cursor"] for e in listed]
    # filtered: the ids are the cursors of GET /events with the same filters
    entry = tree["entries"][0]["id"]
    _, _, messages = replay(client, query=f"&last_event_id=&filter[entry_id]={entry}")
    listed = api.get(f"/events?filter[entry_id]={entry}&page[cursor]=").json()["data"]
    assert [m["id"] for m in events(messages)] == [e["meta"]["page"]["cursor"] for e in listed]
    assert {json.loads(m["data"])["attributes"]["entry_id"] for m in events(messages)} == {entry}


def test_a_stream_resumes_exactly_after_last_event_id(world):
    client, api = world
    project = f.project(api)
    _, _, messages = replay(client, query="&last_event_id=")
    (first,) = events(messages)
    assert first["event"] == "dataset:projects:created"
    photos = f.dataset(api, project)
    f.entry(api, photos)
    _, _, messages = replay(client, query=f"&last_event_id={first['id']}")
    assert messages[0] == {"retry": "2000", "id": first["id"]}  # where it stands, then what follows
    assert [m["event"] for m in events(messages)] == ["dataset:datasets:created", "dataset:entries:created"]
    # the header (what EventSource sends on reconnecting) wins over the parameter
    last = events(messages)[-1]["id"]
    _, _, again = replay(client, query=f"&last_event_id={first['id']}", **{"Last-Event-ID": last})
    assert events(again) == [] and again[0]["id"] == last
    # without a position the stream starts at the end: nothing of the past
    _, _, now = replay(client)
    assert events(now) == [] and now[0]["id"] == last


def test_an_id_the_stream_cannot_resume_from_answers_reset(world):
    client, api = world
    project = f.project(api)
    _, _, messages = replay(client, query="&last_event_id=")
    mine = events(messages)[-1]["id"]
    stale = [mine[:-2] + ("AA" if mine[-2:] != "AA" else "BB"),  # forged
             "AAAAAAAAAAAAAAAAAAAAAHsicm93IjoiMDE5M2ExYjItMDAwNy03MDAwLTgwMDAtMDAwMDAwMDAwMDAwIn0"]
    for resume in stale:
        _, _, messages = replay(client, query=f"&last_event_id={resume}")
        (reset,) = events(messages)
        assert reset["event"] == "reset" and "Reload" in json.loads(reset["data"])["detail"]
        assert reset["id"] == mine  # the end of the log: a reconnect goes on from there
    # an id made for other filters, or for another caller, is not resumed from either
    _, _, messages = replay(client, query=f"&last_event_id={mine}&filter[name]=dataset:projects:created")
    assert [m["event"] for m in events(messages)] == ["reset"]
    f.member(api, project, 5, "project_owner")
    owner = token(account_id=5, email="user5@example.com", role="user")
    _, _, messages = replay(client, owner, query=f"&last_event_id={mine}")
    assert [m["event"] for m in events(messages)] == ["reset"]


def test_a_caller_streams_only_the_events_it_may_read(world):
    client, api = world
    tree = f.tree(api)
    f.member(api, tree["project"], 5, "annotator")
    f.member(api, tree["project"], 6, "annotator")
    mine, theirs = tree["entries"][0], tree["entries"][1]
    f.expect(f.assign(api, mine, 5), 200)
    f.expect(f.assign(api, theirs, 6), 200)
    annotator = token(account_id=5, email="user5@example.com", role="user")
    listed = Api(client, annotator).get("/events?page[cursor]=&page[size]=1000").json()["data"]
    _, _, messages = replay(client, annotator, query="&last_event_id=")
    assert [json.loads(m["data"])["id"] for m in events(messages)] == [e["id"] for e in listed]
    seen = {json.loads(m["data"])["attributes"]["entry_id"] for m in events(messages)}
    assert mine["id"] in seen and theirs["id"] not in seen
    outsider = token(account_id=99, email="user99@example.com", role="user")
    _, _, messages = replay(client, outsider, query="&last_event_id=")
    assert events(messages) == []


def test_authentication_and_refusals(world):
    client, api = world
    f.project(api)
    # a browser's EventSource sends the auth-token cookie
    client.cookies.set("auth-token", token())
    resp = client.get("/events/stream?follow=false&last_event_id=", headers={"Accept": SSE})
    assert resp.status_code == 200 and events(parse(resp.text))
    client.cookies.clear()
    resp = client.get("/events/stream?follow=false", headers={"Accept": SSE})
    assert resp.status_code == 401 and resp.headers["content-type"].startswith("application/vnd.api+json")
    for query, parameter in ((f"token={token()}", "token"), ("sort=-at", "sort"),
                             ("filter[nope]=1", "filter[nope]"), ("page[size]=5", "page[size]"),
                             ("last_event_id=a%20b", "last_event_id")):
        status, _, body = replay(client, query=f"&{query}")
        assert status == 400, query
        assert body["errors"][0]["source"]["parameter"] == parameter, query
    status, _, body = replay(client, Accept="application/vnd.api+json")
    assert status == 406 and "text/event-stream" in body["errors"][0]["detail"]


# --- against a live server ------------------------------------------------------------------------------

class Stream:
    """An EventSource of sorts: one GET of the stream, read in a thread into a queue of messages
    (None once it ended)."""

    def __init__(self, url, bearer, query="", last_event_id=None):
        headers = {"Accept": SSE, "Authorization": f"Bearer {bearer}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.http = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self.response = self.http.send(self.http.build_request("GET", f"{url}/events/stream?{query}",
                                                                headers=headers), stream=True)
        self.messages = queue.Queue()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = ""
        try:
            for text in self.response.iter_text():
                buffer += text
                while "\n\n" in buffer:
                    message, buffer = buffer.split("\n\n", 1)
                    for parsed in parse(message + "\n\n"):
                        self.messages.put(parsed)
        except httpx.HTTPError:
            pass
        finally:
            self.messages.put(None)

    def next(self, timeout=10, events_only=True):
        """The next message (an event, unless ``events_only`` is false), or None once it ended."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if message is None or not events_only or "event" in message:
                return message

    def close(self):
        self.response.close()
        self.http.close()


@pytest.fixture
def served(tmp_path):
    """A live ``dataset-api serve`` (one worker, so one process holds every stream; heartbeats
    every half second; two streams at most), and the database URL it serves."""
    def start(directory, database_url, **env):
        directory.mkdir()
        return Server(directory, database_url, workers=1, env={
            "DATASET_API_EVENT_STREAM_HEARTBEAT_SECONDS": "0.5", "DATASET_API_EVENT_STREAMS": "2",
            "DATASET_API_CURSOR_KEY": "stream-tests-" + "0" * 32, **env})

    if PG_URL:
        with dedicated_database() as url:
            yield start, url
    else:
        yield start, f"sqlite:///{tmp_path}/shared.db"


ADMIN = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")


def writer(server):
    return httpx.Client(base_url=server.url, timeout=30, headers={
        "Authorization": f"Bearer {ADMIN}", "Accept": "application/vnd.api+json",
        "Content-Type": "application/vnd.api+json"})


def create_project(http, name):
    resp = http.post("/projects", json={"data": {"type": "dataset:projects",
                                                 "attributes": {"name": name, "organization_id": 7}}})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def test_a_write_reaches_an_open_stream_with_heartbeats_between(served, tmp_path):
    start, url = served
    with start(tmp_path / "a", url) as server, writer(server) as http:
        stream = Stream(server.url, ADMIN)
        stranger = tokens.issue(SECRET, account_id=99, email="u99@example.com", role="user")
        outsider = Stream(server.url, stranger)
        try:
            assert stream.next(events_only=False) == {"retry": "2000", "id": ""}  # an empty log
            assert outsider.next(events_only=False)["id"] == ""
            project = create_project(http, "Live")
            event = stream.next()
            assert event["event"] == "dataset:projects:created"
            assert json.loads(event["data"])["attributes"]["resource_id"] == project
            assert stream.next(timeout=5, events_only=False) == {"comment": "heartbeat"}
            # a stream beside it, of a caller who may not read the project, hears only heartbeats
            assert outsider.next(timeout=5, events_only=False) == {"comment": "heartbeat"}
            with pytest.raises(queue.Empty):
                outsider.next(timeout=1)
            outsider.close()
            # past the bound (two per worker): 503 with Retry-After, as JSON:API
            time.sleep(0.5)  # the outsider's stream has ended on the server too
            second = Stream(server.url, ADMIN)
            third = Stream(server.url, ADMIN)
            assert second.response.status_code == 200
            assert third.response.status_code == 503 and third.response.headers["retry-after"]
            assert json.loads(third.response.read())["errors"][0]["code"] == "too_many_streams"
            third.close()
            second.close()
        finally:
            stream.close()


def test_a_stream_ends_when_its_token_expires(served, tmp_path):
    start, url = served
    with start(tmp_path / "a", url) as server:
        short = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin", ttl=3)
        stream = Stream(server.url, short)
        try:
            began = time.monotonic()
            messages = []
            while (message := stream.next(timeout=10, events_only=False)) is not None:
                messages.append(message)
            assert time.monotonic() - began < 8
            assert {"comment": "the token has expired: reconnect with a new one"} in messages
        finally:
            stream.close()


def test_sigterm_ends_open_streams_at_once(served, tmp_path):
    start, url = served
    server = start(tmp_path / "a", url)
    server.start()
    try:
        streams = [Stream(server.url, ADMIN), Stream(server.url, ADMIN)]
        for stream in streams:
            assert stream.next(events_only=False) is not None  # open, past its first message
        began = time.monotonic()
        server.proc.terminate()
        for stream in streams:
            while stream.next(timeout=10, events_only=False) is not None:
                pass
        server.proc.wait(timeout=10)
        assert time.monotonic() - began < 5  # not the 30 s of a graceful timeout
        for stream in streams:
            stream.close()
    finally:
        server.stop()


def test_after_a_kill_9_a_stream_resumes_with_every_event_once(served, tmp_path):
    start, url = served
    server = start(tmp_path / "a", url)
    server.start()
    try:
        with writer(server) as http:
            stream = Stream(server.url, ADMIN, "last_event_id=")
            made = [create_project(http, f"P{i}") for i in range(5)]
            got = [stream.next() for _ in range(5)]
            stream.close()
            assert [json.loads(e["data"])["attributes"]["resource_id"] for e in got] == made
        handled = got[1]["id"]  # the client handled two when the server died
        os.kill(server.proc.pid, 9)
        for pid in server.seen_workers | set(server.children()):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        server.proc.wait(timeout=10)
        server.start()
        with writer(server) as http:
            made.append(create_project(http, "After"))
        stream = Stream(server.url, ADMIN, "follow=false", last_event_id=handled)
        rest = []
        while (event := stream.next()) is not None:
            rest.append(json.loads(event["data"])["attributes"]["resource_id"])
        stream.close()
        assert rest == made[2:]
    finally:
        server.stop()


def test_two_instances_feed_one_stream(served, tmp_path):
    start, url = served
    with start(tmp_path / "a", url) as first, start(tmp_path / "b", url) as second:
        stream = Stream(first.url, ADMIN)
        try:
            assert stream.next(events_only=False) is not None
            with writer(second) as http:
                made = [create_project(http, f"From the other {i}") for i in range(3)]
            got = [stream.next() for _ in range(3)]
            assert [json.loads(e["data"])["attributes"]["resource_id"] for e in got] == made
        finally:
            stream.close()


@pytest.mark.browser
def test_a_browser_eventsource_receives_events_across_a_restart(served, tmp_path):
    """Chromium's EventSource (clients/checks/event-stream.mjs), authenticated by the auth-token
    cookie, receives an event another client writes; the server restarts (SIGTERM ends the stream,
    EventSource reconnects with Last-Event-ID) and the next event arrives, nothing missed or twice."""
    require_browser()
    npm_ci_checks()
    start, url = served
    server = start(tmp_path / "a", url)
    server.start()
    env = dict(os.environ, DATASET_API_URL=server.url, DATASET_API_TOKEN=ADMIN, CHROMIUM_PATH=CHROMIUM)
    browser = subprocess.Popen(["node", "event-stream.mjs"], cwd=CHECKS, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def answer(command=None):
        if command is not None:
            browser.stdin.write(command + "\n")
            browser.stdin.flush()
        line = browser.stdout.readline().strip()
        if not line.startswith(("ok", "open")):
            browser.kill()
            pytest.fail(f"event-stream.mjs: {line!r}\n{browser.stderr.read()}\n{server.log_tail()}",
                        pytrace=False)
        return line

    try:
        with step(f"an EventSource in headless Chromium ({CHROMIUM})"):
            answer()  # open
            with writer(server) as http:
                before = create_project(http, "Seen live")
            answer(f"written {before}")
            port = server.port
            server.stop()
            server.start(port=port)  # the page's EventSource reconnects to the same origin
            with writer(server) as http:
                after = create_project(http, "After the restart")
            answer(f"written {after}")
            reopened = answer(f"expect {before} {after}")
            assert reopened != "ok (opened 1 times)", reopened  # it reconnected, and missed nothing
            browser.stdin.write("done\n")
            browser.stdin.close()
        assert browser.wait(timeout=30) == 0, browser.stderr.read()
    finally:
        if browser.poll() is None:
            browser.kill()
        server.stop()
