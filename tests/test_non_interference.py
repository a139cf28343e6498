"""Non-interference (issue #20): what tenant B reads is the same whether or not tenant A exists.

Two worlds on the test database: in the first, tenant A (organization 1) and tenant B (organization
2) both have projects, members, datasets, entries, annotations (and their revisions), notes,
webhooks, webhook deliveries and the events of all this in the log; in the second only B has. B's
callers (its project owner, an annotator and the org_owner of its organization) then make the same
sequence of requests in both worlds: every index under every sort (walked by cursor to the end),
every include and sparse fieldset, a filter on every filter key of every index with values taken
from A's records (its emails, resources, names, ids, timestamps), shows, updates and deletes of A's
records, creates naming A's records as parents, workflow actions on A's entries, ``next`` in A's
dataset, the revisions and the restore of A's annotation, JSON-RPC
``show``/``index``/``create``/``revisions``/``restore``, the export (also ``as_of``), the event
stream, and cursors: B's own, A's (foreign), another caller's, and forged ones in the format an
attacker can read in the source (naming A's rows, B's rows and no row). Every answer (status, the
headers a client reads, the body: ids, attribute values, counts, error codes and details) must be
identical in both worlds. Any difference is something B learned about A.

Both worlds run on a deterministic clock and id source (``models.base``'s time, date and random
bytes), phase by phase (B's records, then A's, then B's requests), so that B's records and answers
are the same bytes in both. ``/metrics`` needs no token and counts every request, so it is not
compared; the last test checks that no metric label names a tenant's project, dataset, account or
record.
"""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from dataset_api.jsonapi import cursor
from dataset_api.models import base
from dataset_api.registry import RESOURCES, filter_keys
from tests import factories
from tests.conftest import Api, app_client, token

MEDIA = "application/vnd.api+json"
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
PAGE = 3  # cursor pages of 3: every walk takes more than one page
WALK_PAGES = 20  # a walk longer than this does not end
LONG = "z" * 200  # a sort value too long for a cursor: the cursor names the row
HEADERS = ("content-type", "etag", "location", "www-authenticate", "allow", "content-disposition")


class Clock:
    """Time and randomness for ``models.base`` (ids and timestamps): a phase starts at its own
    instant and counts from there, one millisecond and one id per call."""

    def __init__(self):
        self.phase(0)

    def phase(self, number):
        self.start, self.calls = EPOCH + timedelta(days=number), 0
        self.number = number

    def _next(self):
        self.calls += 1
        return self.start + timedelta(milliseconds=self.calls)

    def now(self, tz=None):
        return self._next().astimezone(tz) if tz else self._next().replace(tzinfo=None)

    def time(self):
        return self._next().timestamp()

    def urandom(self, size):
        return (self.number << 56 | self.calls).to_bytes(size, "big")


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(base, "datetime", SimpleNamespace(now=clock.now))
    monkeypatch.setattr(base, "time", SimpleNamespace(time=clock.time))
    monkeypatch.setattr(base, "os", SimpleNamespace(urandom=clock.urandom))
    return clock


# --- the tenants ------------------------------------------------------------------------------------

def tenant(admin, tag, organization_id, owner, annotator, reviewer):
    """A tenant's records, made by an admin: a project with three members, a dataset of entries
    (one with a resource too long for a cursor), annotations, a note feed with a comment, and a
    webhook (whose deliveries the events of all this make). Returns the records by resource."""
    project = factories.project(admin, f"{tag} birds", organization_id=organization_id,
                                description=f"{tag} secret plans")
    members = [factories.member(admin, project, account, role, email=f"{tag}-{role}@{tag}.example",
                                name=f"{tag} {role}")
               for account, role in ((owner, "project_owner"), (annotator, "annotator"),
                                     (reviewer, "reviewer"))]
    webhook = admin.create("webhooks", project_id=project["id"], url=f"https://hooks.{tag}.example/in",
                           description=f"{tag} hook")
    dataset = factories.dataset(admin, project, f"{tag} photos", labels=[f"{tag}-label"])
    entries = [factories.entry(admin, dataset, f"s3://{tag}/img-{i}.png", priority=i % 3,
                               **({"job_id": f"{tag}-job"} if i % 2 else {})) for i in range(5)]
    entries.append(factories.entry(admin, dataset, f"s3://{tag}/{LONG}.png"))
    annotations = [factories.annotation(admin, entry, label=f"{tag}-label", metadata={"by": tag})
                   for entry in entries[:3]]
    feed = factories.note_feed(admin, entries[0], f"{tag} question", position={"x": 1})
    comment = factories.note_comment(admin, feed, f"{tag} answer")
    return {"projects": [project], "project_members": members, "webhooks": [webhook],
            "datasets": [dataset], "entries": entries, "annotations": annotations,
            "note_feeds": [feed], "note_comments": [comment]}


def a_tenant(admin):
    """Tenant A, read back as stored (its deliveries included): what B must learn nothing of."""
    made = tenant(admin, "alice", 1, 100, 101, 102)
    project_id = made["projects"][0]["id"]
    stored = {}
    for name, records in made.items():
        stored[name] = [admin.get(f"/{name}/{r['id']}").json()["data"] for r in records]
    stored["webhook_deliveries"] = admin.get(
        f"/webhook_deliveries?filter[project_id]={project_id}").json()["data"]
    assert stored["webhook_deliveries"], "A's events made no delivery to inspect"
    stored["events"] = admin.get(f"/events?filter[project_id]={project_id}&page[size]=1000").json()["data"]
    stored["annotation_revisions"] = revisions_of(admin, made["annotations"])
    return stored


def revisions_of(admin, annotations):
    """The revisions of ``annotations`` (one each: their creation), as stored."""
    ids = ",".join(a["id"] for a in annotations)
    return admin.get(f"/annotation_revisions?filter[annotation_id__in]={ids}").json()["data"]


# --- B's requests -------------------------------------------------------------------------------------

def forged(resource, sort_pairs, keys):
    """A cursor in the format an attacker reads in the source of the unkeyed release: a blake2b
    digest anyone can compute, over the resource, the sort, the filters and the values."""
    from dataset_api.jsonapi import query

    q = query.parse(resource, sort_pairs)
    payload = cursor._compact(keys)
    raw = hashlib.blake2b(cursor.binding(resource, q) + b"\n" + payload, digest_size=6).digest()
    return base64.urlsafe_b64encode(raw + payload).rstrip(b"=").decode()


def probe_value(attribute, op, kind, record):
    """The text of a filter probing ``record`` (A's) on ``attribute`` with ``op``."""
    value = record["attributes"].get(attribute) if attribute != "id" else record["id"]
    if op == "exists" or kind == "boolean":
        return "true"
    if value is None or isinstance(value, bool):
        return {"integer": "101", "integer_list": "101", "number": "0.5", "object": "{}", "array": "[]",
                "timestamp": "2026-03-02T00:00:00Z"}.get(kind, "alice")
    if kind in ("object", "array"):
        return json.dumps(value)
    text = str(value)
    if op in ("match", "prefix", "suffix"):
        return text[:8] if op != "suffix" else text[-8:]
    return text[:200]


def requests_of(a, b):
    """B's requests: (caller, method, path, body, walk) — ``walk``: follow links.next."""
    owner, worker, org = "b-owner", "b-annotator", "b-org-owner"
    wanted = []

    def get(caller, path, pairs=(), walk=False):
        wanted.append((caller, "GET", f"{path}?{urlencode(pairs)}" if pairs else path, None, walk))

    for name, resource in RESOURCES.items():
        mine, theirs = b.get(name, []), a.get(name, [])
        for caller in (owner, worker, org):
            get(caller, f"/{name}", [("count", "true")])
            for record in [*mine, *theirs]:
                get(caller, f"/{name}/{record['id']}")
        for caller in (owner, worker):
            for sort in sorted(resource.sort_names):
                for term in (sort, f"-{sort}"):
                    get(caller, f"/{name}", [("sort", term), ("page[cursor]", ""), ("page[size]", PAGE)],
                        walk=True)
                    # a forged cursor naming A's row under every sort; B's and a missing one's too
                    # under the first (each answer alike: the format is refused whatever it names)
                    pairs = [("sort", term)]
                    missing = {"id": 999999 if resource.id_kind == "integer"
                               else "01890000-0000-7000-8000-000000000000"}
                    rows = [*theirs[:1], *([*mine[:1], missing] if sort == "id" else [])]
                    for row in rows:
                        token_ = forged(resource, pairs, {"row": row["id"]})
                        get(caller, f"/{name}", [*pairs, ("page[cursor]", token_)])
            for path in resource.includes:
                get(caller, f"/{name}", [("include", path)])
                for record in [*mine[:1], *theirs[:1]]:
                    get(caller, f"/{name}/{record['id']}", [("include", path)])
            get(caller, f"/{name}", [(f"fields[{resource.type}]", next(iter(resource.attributes)))])
        # a filter on every attribute with A's value: equal, and the operators that would bisect
        # (prefix, range, presence); every operator of each attribute for the owner
        for key, (attribute, op, kind) in filter_keys(resource).items():
            for record in theirs[:1]:
                text = probe_value(attribute, op, kind, record)
                get(owner, f"/{name}", [(f"filter[{key}]", text), ("count", "true")])
                if op in ("", "prefix", "gte"):
                    get(worker, f"/{name}", [(f"filter[{key}]", text), ("count", "true")])

    a_project, b_project = a["projects"][0]["id"], b["projects"][0]["id"]
    a_dataset, b_dataset = a["datasets"][0]["id"], b["datasets"][0]["id"]
    a_entry, a_annotation = a["entries"][0]["id"], a["annotations"][0]["id"]
    for caller in (owner, worker):
        # updates and deletes of A's records, creates naming A's records as parents
        for name, records in a.items():
            if not RESOURCES[name].read_only:
                record = records[0]
                body = {"data": {"type": record["type"], "id": record["id"], "attributes": {}}}
                wanted.append((caller, "PATCH", f"/{name}/{record['id']}", body, False))
                wanted.append((caller, "DELETE", f"/{name}/{record['id']}", None, False))
        for name, attributes in (
                ("project_members", {"project_id": a_project, "account_id": 999, "email": "x@b.example",
                                     "role": "annotator"}),
                ("datasets", {"project_id": a_project, "name": "mine", "modality": "image"}),
                ("webhooks", {"project_id": a_project, "url": "https://hooks.b.example/x"}),
                ("entries", {"dataset_id": a_dataset, "resource": "s3://b/steal.png"}),
                ("annotations", {"entry_id": a_entry, "dimensions": {}, "annotation": {}}),
                ("note_feeds", {"entry_id": a_entry, "content_md": "hello"}),
                ("note_comments", {"note_feed_id": a["note_feeds"][0]["id"], "content_md": "hi"})):
            body = {"data": {"type": f"dataset:{name}", "attributes": attributes}}
            wanted.append((caller, "POST", f"/{name}", body, False))
        # the workflow on A's entry, the queue of A's dataset, A's deliveries
        for action in ("select", "submit", "error", "assign"):
            method = "GET" if action == "select" else ("PATCH" if action == "assign" else "POST")
            body = {"data": {"attributes": {"assigned_to_id": 201, "message": "x", "approved": True}}}
            wanted.append((caller, method, f"/entries/{a_entry}/{action}",
                           None if method == "GET" else body, False))
        wanted.append((caller, "POST", f"/webhook_deliveries/{a['webhook_deliveries'][0]['id']}/resend",
                       None, False))
        wanted.append((caller, "POST", f"/webhooks/{a['webhooks'][0]['id']}/rotate_secret", None, False))
        wanted.append((caller, "POST", f"/note_feeds/{a['note_feeds'][0]['id']}/resolve", None, False))
        get(caller, "/entries/next", [("filter[dataset_id]", a_dataset)])
        # the revisions of A's annotation, and its restore
        get(caller, f"/annotations/{a_annotation}/revisions", [("page[cursor]", ""), ("count", "true")])
        wanted.append((caller, "POST", f"/annotations/{a_annotation}/restore",
                       {"data": {"attributes": {"revision": 1}}}, False))
        # JSON-RPC
        calls = [{"jsonrpc": "2.0", "id": 1, "method": "show", "params": {"id": a_annotation}},
                 {"jsonrpc": "2.0", "id": 2, "method": "index", "params": {"filter": {"entry_id": a_entry}}},
                 {"jsonrpc": "2.0", "id": 3, "method": "index",
                  "params": {"sort": "-created_at", "page": {"cursor": forged(
                      RESOURCES["annotations"], [("sort", "-created_at")], {"row": a_annotation})}}},
                 {"jsonrpc": "2.0", "id": 4, "method": "index",
                  "params": {"sort": "created_by_email", "page": {"cursor": "", "size": 1}, "count": True}},
                 {"jsonrpc": "2.0", "id": 5, "method": "create",
                  "params": {"entry_id": a_entry, "dimensions": {}, "annotation": {}}},
                 {"jsonrpc": "2.0", "id": 6, "method": "update", "params": {"id": a_annotation,
                                                                            "metadata": {"x": 1}}},
                 {"jsonrpc": "2.0", "id": 7, "method": "delete", "params": {"id": a_annotation}},
                 {"jsonrpc": "2.0", "id": 8, "method": "revisions", "params": {"id": a_annotation}},
                 {"jsonrpc": "2.0", "id": 9, "method": "restore", "params": {"id": a_annotation,
                                                                             "revision": 1}}]
        wanted.append((caller, "POST", "/annotations/_rpc", calls, False))
        # the export, of B's dataset and of A's
        for dataset_id in (b_dataset, a_dataset):
            for media in ("application/x-ndjson", "text/csv", "application/json"):
                wanted.append((caller, "EXPORT", f"/datasets/{dataset_id}/export", media, False))
            wanted.append((caller, "EXPORT", f"/datasets/{dataset_id}/export?as_of=2026-03-04T00:00:00Z",
                           "application/x-ndjson", False))
    # the event log live: each caller's stream replayed whole, and filtered on A's records
    for caller in (owner, worker, org):
        for extra in ("", f"&filter[project_id]={a_project}", f"&filter[entry_id]={a_entry}"):
            wanted.append((caller, "EXPORT", f"/events/stream?follow=false&last_event_id={extra}",
                           "text/event-stream", False))
    # B's workers at work: the queue of B's dataset, and B's own cursors reused by other callers
    get(worker, "/entries/next", [("filter[dataset_id]", b_dataset)])
    get(owner, "/projects", [("filter[id]", b_project)])
    wanted.append(("b-reviewer", "GET", f"/entries?{urlencode([('filter[dataset_id]', b_dataset)])}",
                   None, False))
    return wanted


# --- running and comparing -----------------------------------------------------------------------------

CALLERS = {"b-owner": (200, "user", ()), "b-annotator": (201, "user", ()), "b-reviewer": (202, "user", ()),
           "b-org-owner": (300, "org_owner", (2,)), "a-owner": (100, "user", ())}


def seen(resp):
    """What a client sees of an answer."""
    headers = {k: v for k, v in resp.headers.items() if k in HEADERS}
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    return resp.status_code, headers, body


def run(client, wanted, foreign):
    """Make ``wanted`` in order; return what each answered (cursor walks page by page). B's
    callers also try ``foreign`` (cursors of A's owner) and hand their own cursors to each other."""
    bearers = {name: {"Authorization": "Bearer " + token(
        account_id=account, email=f"{name}@example.com", role=role, orgs=orgs)}
        for name, (account, role, orgs) in CALLERS.items()}

    def ask(caller, method, path, body=None, media=MEDIA):
        """One request, as a plain client sends it (answers are compared, not schema-checked)."""
        headers = {**bearers[caller], "Accept": media}
        if body is not None:
            headers["Content-Type"] = "application/json" if path.endswith("/_rpc") else MEDIA
        return client.request(method, path, headers=headers,
                              content=None if body is None else json.dumps(body))

    answers, handed = [], []
    for caller, method, path, body, walk in wanted:
        if method == "EXPORT":
            resp = ask(caller, "GET", path, media=body)
        else:
            resp = ask(caller, method, path, body)
        answers.append(((caller, method, path), seen(resp)))
        pages = 0
        while walk and resp.status_code == 200 and resp.json()["links"].get("next"):
            pages += 1
            assert pages < WALK_PAGES, path
            following = resp.json()["links"]["next"]
            handed.append((caller, following))
            resp = ask(caller, "GET", following)
            answers.append(((caller, "GET", following), seen(resp)))
    for caller, link in [*handed[::7], *foreign]:  # a cursor used by a caller it was not made for
        other = "b-annotator" if caller != "b-annotator" else "b-owner"
        answers.append(((other, "GET", link), seen(ask(other, "GET", link))))
    return answers


def answers_of(directory, clock, a=None, foreign=()):
    """B's answers in a world with A (``a`` None: made here) or without it."""
    # answers are compared with each other, not checked against the spec (other suites do that)
    with app_client(directory, validate_responses=False) as client:
        admin = Api(client, token())
        clock.phase(0)
        b = tenant(admin, "bob", 2, 200, 201, 202)
        b["webhook_deliveries"] = admin.get("/webhook_deliveries").json()["data"]
        b["events"] = admin.get("/events?page[size]=1000").json()["data"]
        b["annotation_revisions"] = revisions_of(admin, b["annotations"])
        if a is None:
            clock.phase(1)
            a = a_tenant(admin)
            owner = Api(client, token(account_id=100, email="a-owner@example.com", role="user"))
            doc = owner.get("/entries?sort=resource&page[cursor]=&page[size]=1").json()
            foreign = [("a-owner", doc["links"]["next"])]
        clock.phase(2)
        return a, foreign, run(client, requests_of(a, b), foreign)


def test_what_b_reads_is_the_same_whether_or_not_a_exists(tmp_path, clock):
    a, foreign, with_a = answers_of(tmp_path / "with-a", clock)
    _, _, without_a = answers_of(tmp_path / "without-a", clock, a, foreign)
    assert len(with_a) == len(without_a) > 1000
    for (request, seen_with), (_, seen_without) in zip(with_a, without_a, strict=True):
        assert seen_with == seen_without, f"{request}: B learns of A\nwith A:    {seen_with}\n" \
                                          f"without A: {seen_without}"
    statuses = {answer[0] for _, answer in with_a}
    assert {200, 400, 404} <= statuses, statuses  # reads, refused cursors and hidden records met


def test_no_metric_label_names_a_tenant(client, tmp_path, clock):
    """``/metrics`` needs no token: its labels name routes and outcomes, never a project, dataset,
    account, email or record."""
    admin = Api(client, token())
    records = tenant(admin, "carol", 7777, 7001, 7002, 7003)
    worker = Api(client, token(account_id=7002, email="w@example.com", role="user"))
    dataset_id = records["datasets"][0]["id"]
    worker.get(f"/entries/next?filter[dataset_id]={dataset_id}")
    for name, rows in records.items():
        for row in rows:
            admin.get(f"/{name}/{row['id']}")
    text = client.get("/metrics").text
    # the accounts and the organization (no label may equal one), the records' UUIDs and the
    # tenant's names (no label may hold one); the members' ids are small integers, as counts are
    named = {"7001", "7002", "7003", "7777"}
    within = {row["id"] for rows in records.values() for row in rows if len(row["id"]) == 36}
    within |= {"carol"}
    labels = [line.split("{", 1)[1].rsplit("}", 1)[0] for line in text.splitlines()
              if "{" in line and not line.startswith("#")]
    assert labels, "no labelled metric to inspect"
    for label in labels:
        values = [part.split("=", 1)[1].strip('"') for part in label.split('",') if "=" in part]
        assert not any(value in named or any(secret in value for secret in within)
                       for value in values), label

