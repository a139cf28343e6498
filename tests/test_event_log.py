"""The event log (``GET /events``, docs/events.md "The event log"): every change recorded, read
back over HTTP in commit order, filtered, resumed from a cursor, and nothing of a rolled-back
request; on SQLite and on PostgreSQL (where a slower transaction's event must not be skipped).
Who reads which events is in the permission matrix (tests/test_permissions.py)."""

import json
import threading
import uuid

import psycopg2
import pytest

from dataset_api.events import outbox
from tests import factories as f
from tests.conftest import PG_URL, Api, app_client, token


@pytest.fixture
def world(tmp_path):
    with app_client(tmp_path) as client:
        yield client, Api(client, token())


def read(api, query="", cursor=""):
    """Every event ``api``'s caller reads after ``cursor``, following the pages; and the cursor
    of the last one (``cursor`` itself when there is none)."""
    events = []
    while True:
        body = api.get(f"/events?page[cursor]={cursor}&page[size]=50{query}").json()
        events += body["data"]
        if body["data"]:
            cursor = body["data"][-1]["meta"]["page"]["cursor"]
        if body["links"]["next"] is None:
            return events, cursor


def names(events):
    return [e["attributes"]["name"] for e in events]


def test_every_kind_of_event_is_in_the_log_in_commit_order(world):
    client, api = world
    project = f.project(api)
    made = f.every_event(api, client, project)
    gone = f.project(api, "Gone")
    assert api.delete(f"/projects/{gone['id']}").status_code == 204

    events, _ = read(api)
    assert set(names(events)) == set(outbox.names())
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # UUIDv7s: in time order
    stamps = [e["attributes"]["at"] for e in events]
    assert stamps == sorted(stamps)
    by_name = {e["attributes"]["name"]: e["attributes"] for e in events}
    reviewed = by_name["dataset:entries:reviewed"]
    assert reviewed == {"name": "dataset:entries:reviewed", "resource_id": made.second["id"],
                        "args": {"approved": True}, "account_id": 6, "at": reviewed["at"],
                        "project_id": project["id"], "dataset_id": made.dataset["id"],
                        "entry_id": made.second["id"]}
    assert by_name["dataset:entries:imported"]["resource_id"] == made.dataset["id"]
    assert by_name["dataset:entries:imported"]["args"]["created"] == 1
    assert by_name["dataset:projects:deleted"]["resource_id"] == gone["id"]
    # an event read alone is the same, with an ETag
    one = api.get(f"/events/{events[0]['id']}")
    assert one.status_code == 200 and one.headers["etag"] == f'"{events[0]["id"]}.1"'
    assert one.json()["data"]["id"] == events[0]["id"]
    assert one.json()["data"]["attributes"] == events[0]["attributes"]


def test_an_entrys_activity_is_the_log_filtered_by_entry(world):
    client, api = world
    project = f.project(api)
    made = f.every_event(api, client, project)
    events, _ = read(api, f"&filter[entry_id]={made.second['id']}&filter[name__prefix]=dataset:entries:")
    activity = [(e["attributes"]["name"].split(":")[-1], e["attributes"]["account_id"]) for e in events]
    assert activity == [("created", 1), ("assigned", 1), ("unassigned", 1), ("selected", 5),
                        ("submitted", 5), ("selected", 6), ("reviewed", 6)]


def test_filters_sort_and_count(world):
    client, api = world
    project = f.project(api)
    made = f.every_event(api, client, project)
    wanted = "dataset:entries:reviewed,dataset:entries:errored"
    body = api.get(f"/events?filter[name__in]={wanted}&count=true").json()
    assert sorted(names(body["data"])) == sorted(wanted.split(",")) and body["meta"]["count"] == 2
    assert names(api.get('/events?filter[args]={"approved": true}').json()["data"]) == [
        "dataset:entries:reviewed"]
    assert names(api.get(f"/events?filter[account_id]=6&filter[dataset_id]={made.dataset['id']}"
                         "&filter[name__suffix]=ed").json()["data"]) == [
        "dataset:entries:selected", "dataset:entries:reviewed"]
    everything = api.get("/events?page[size]=1000").json()["data"]
    middle = everything[len(everything) // 2]["attributes"]["at"]
    later = api.get(f"/events?filter[at__gte]={middle}&page[size]=1000").json()["data"]
    assert 0 < len(later) < len(everything)
    assert all(e["attributes"]["at"] >= middle for e in later)
    newest_first = api.get("/events?sort=-at&page[size]=1000").json()["data"]
    assert [e["attributes"]["at"] for e in newest_first] == sorted(
        (e["attributes"]["at"] for e in everything), reverse=True)
    for query, parameter in (("filter[payload]=1", "filter[payload]"), ("sort=args", "sort"),
                             ("filter[txid]=0", "filter[txid]"), ("filter[at__gte]=soon", "filter[at__gte]")):
        resp = api.get(f"/events?{query}")
        assert resp.status_code == 400, query
        assert resp.json()["errors"][0]["source"]["parameter"] == parameter
    assert api.get(f"/events/{uuid.uuid4()}").status_code == 404
    assert api.get("/events/1").status_code == 404  # its number is not its id


def test_a_reader_resumes_after_the_last_event_it_handled(world):
    client, api = world
    project = f.project(api)
    first, cursor = read(api)
    assert names(first) == ["dataset:projects:created"]
    assert read(api, cursor=cursor) == ([], cursor)  # nothing new yet
    photos = f.dataset(api, project)
    f.entry(api, photos)
    new, cursor = read(api, cursor=cursor)
    assert names(new) == ["dataset:datasets:created", "dataset:entries:created"]
    assert read(api, cursor=cursor)[0] == []
    # a cursor is its caller's, for its filters: anyone else's is refused
    other = Api(client, token(account_id=2, email="other@example.com"))
    resp = other.get(f"/events?page[cursor]={cursor}")
    assert resp.status_code == 400 and resp.json()["errors"][0]["source"]["parameter"] == "page[cursor]"
    assert api.get(f"/events?page[cursor]={cursor}&filter[name]=x").status_code == 400


def test_a_rolled_back_request_leaves_nothing_in_the_log(world):
    client, api = world
    tree = f.tree(api)
    before, _ = read(api)
    batch = [{"jsonrpc": "2.0", "method": "create", "id": i, "params": {
        "entry_id": tree["entries"][0]["id"] if i else str(uuid.uuid4()), "dimensions": {},
        "annotation": {"i": i}}} for i in range(3)]
    resp = client.post("/annotations/_rpc?atomic=true", content=json.dumps(batch), headers={
        "Authorization": f"Bearer {token()}", "Content-Type": "application/json"})
    assert resp.status_code == 200 and all("error" in reply for reply in resp.json())
    busy = tree["entries"][1]
    f.expect(f.select(api, busy), 200)
    assert api.delete(f"/entries/{busy['id']}").status_code == 409  # in progress
    after, _ = read(api)
    assert after[:len(before)] == before
    assert names(after[len(before):]) == ["dataset:entries:selected"]


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL: SQLite commits one writer at a time, in id order")
def test_an_event_committed_late_is_not_skipped(world):
    """A transaction that wrote an event and has not committed holds back the events committed
    after it: a reader who follows the cursor meets the slow event first, then the rest, once the
    slow one commits. Ordering by id alone would hand the reader a cursor past the slow event."""
    client, api = world
    project = f.project(api)
    _, cursor = read(api)
    slow = psycopg2.connect(PG_URL)
    try:
        with slow.cursor() as sql:  # a write in progress: its event has the smaller id
            sql.execute(
                'INSERT INTO "event" ("uid", "name", "resource_id", "project_id", "payload", "at", '
                '"redis_pending") VALUES (%s, %s, %s, %s, %s, now(), false) RETURNING "uid"',
                (str(uuid.uuid4()), "dataset:projects:updated", project["id"], project["id"],
                 json.dumps({"args": {"description": "slow"}, "resource_id": project["id"],
                             "metadata": {"project_id": project["id"]}})))
            slow_id = sql.fetchone()[0]
        f.dataset(api, project)  # committed, with a greater id
        held, _ = read(api, cursor=cursor)
        assert held == []  # not shown while an older transaction may still commit before it
        slow.commit()
    finally:
        slow.close()
    events, _ = read(api, cursor=cursor)
    assert [(e["id"] == slow_id, e["attributes"]["name"]) for e in events] == [
        (True, "dataset:projects:updated"), (False, "dataset:datasets:created")]


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL: concurrent writers")
def test_concurrent_writers_and_a_following_reader_miss_nothing(world):
    """Writers in threads while a reader follows the log from its cursor: the reader gets every
    committed event exactly once."""
    client, api = world
    project = f.project(api)
    created = "&filter[name]=dataset:entries:created"
    _, cursor = read(api, created)
    photos = f.dataset(api, project)
    seen, made = [], []

    def write(n):
        for i in range(15):
            made.append(f.entry(api, photos, f"w{n}-{i}.png")["id"])

    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in writers:
        thread.start()
    done = False
    while not done:
        done = not any(thread.is_alive() for thread in writers)  # then one last read
        events, cursor = read(api, created, cursor)
        seen += [e["attributes"]["resource_id"] for e in events]
    for thread in writers:
        thread.join()
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen)) == 45
