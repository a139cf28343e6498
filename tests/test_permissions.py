"""Authorization (docs/permissions.md, DESIGN §6): who may read and change what, written as tables.

The expectations are tables keyed by caller, written from docs/permissions.md (never computed by
the code under test): READS (what each caller may read), WRITES (create / update / delete),
WORKFLOW (entry actions), RPC_WRITES (JSON-RPC), MEMBER_MANAGEMENT.

The world they speak of is built once per module with the admin client (``build_world``), then
restored from a snapshot of its rows before every test, so each test starts from the same data:

- project "A" (organization 1): project_owner 10, reviewer 11, annotator 12, annotator 13 (disabled);
  project "B" (organization 2): annotator 20; one dataset per project ("A", "B"; sample_rate 1);
- entries "A/assigned" (assigned to the annotator), "A/open" (unassigned at annotate), "A/review"
  (submitted by the annotator: unassigned at review), "A/owner" (assigned to the project owner),
  "B/open" (unassigned at annotate);
- one annotation, one note feed (anchored on that annotation) and one note comment per entry, under
  the entry's key, all written by the admin.

Records are named by key ("A/12" is the annotator's membership); ``World`` maps keys to ids.
"""

import json
from types import SimpleNamespace

import pytest

from dataset_api.db import db
from dataset_api.models import MODELS, ProjectMember
from tests import factories
from tests.conftest import PG_URL, Api, app_client, token
from tests.factories import expect

RESOURCES = ("projects", "project_members", "datasets", "entries", "annotations", "note_feeds",
             "note_comments")
RPC = "/annotations/_rpc"

# ------------------------------------------------------------------------------------ the callers

CALLERS = {
    "admin": {"account_id": 1, "role": "admin"},
    "org_owner_1": {"account_id": 30, "role": "org_owner", "orgs": [1]},
    "org_owner_2": {"account_id": 31, "role": "org_owner", "orgs": [2]},
    "project_owner": {"account_id": 10, "role": "user"},
    "reviewer": {"account_id": 11, "role": "user"},
    "annotator": {"account_id": 12, "role": "user"},
    "disabled_member": {"account_id": 13, "role": "user"},
    "other_project_member": {"account_id": 20, "role": "user"},
    "non_member": {"account_id": 40, "role": "user"},
}
OWNERS_OF_A = ("admin", "org_owner_1", "project_owner")
ORGANIZATIONS = {1: ("org_owner_1", "project_owner", "reviewer", "annotator"),
                 2: ("org_owner_2", "other_project_member")}


def email(account_id):
    return "admin@example.com" if account_id == 1 else f"user{account_id}@example.com"


TOKENS = {name: token(email=email(c["account_id"]), **c) for name, c in CALLERS.items()}

# ------------------------------------------------------------------------------------- the world

MEMBERS = (("A", 10, "project_owner"), ("A", 11, "reviewer"), ("A", 12, "annotator"),
           ("A", 13, "annotator"), ("B", 20, "annotator"))
A_MEMBERS = {"A/10", "A/11", "A/12", "A/13"}
A_ENTRIES = {"A/assigned", "A/open", "A/review", "A/owner"}
ENTRY_KEYS = ("A/assigned", "A/open", "A/review", "A/owner", "B/open")


def readable(projects=(), members=(), datasets=(), entries=()):
    """One caller's READS row; annotations, note feeds and comments carry their entry's key."""
    entries = set(entries)
    return {"projects": set(projects), "project_members": set(members), "datasets": set(datasets),
            "entries": entries, "annotations": entries, "note_feeds": entries,
            "note_comments": entries}


ALL_OF_A = readable({"A"}, A_MEMBERS, {"A"}, A_ENTRIES)
ALL_OF_B = readable({"B"}, {"B/20"}, {"B"}, {"B/open"})
NOTHING = readable()

# what each caller may read (docs/permissions.md, "Reading")
READS = {
    "admin": readable({"A", "B"}, A_MEMBERS | {"B/20"}, {"A", "B"}, A_ENTRIES | {"B/open"}),
    "org_owner_1": ALL_OF_A,
    "org_owner_2": ALL_OF_B,
    "project_owner": ALL_OF_A,
    # project, members and dataset of their project; entries: only the one waiting at review
    "reviewer": readable({"A"}, A_MEMBERS, {"A"}, {"A/review"}),
    # entries: assigned to them, waiting at annotate, submitted by them (not the owner's one)
    "annotator": readable({"A"}, A_MEMBERS, {"A"}, {"A/assigned", "A/open", "A/review"}),
    "disabled_member": NOTHING,  # a disabled membership counts as none
    "other_project_member": ALL_OF_B,  # B's annotator: B/open waits at their step
    "non_member": NOTHING,
}


def _project(key):
    return {key.split("/")[0]}


# (resource, relationship) -> (related resource, keys of the records related to the record ``key``)
LINKS = {
    ("projects", "datasets"): ("datasets", lambda key: {key}),
    ("projects", "project_members"): ("project_members",
                                      lambda key: {m for m in A_MEMBERS | {"B/20"} if m[0] == key}),
    ("project_members", "project"): ("projects", _project),
    ("datasets", "project"): ("projects", lambda key: {key}),
    ("datasets", "entries"): ("entries", lambda key: {e for e in ENTRY_KEYS if e[0] == key}),
    ("entries", "dataset"): ("datasets", _project),
    ("entries", "project"): ("projects", _project),
    ("entries", "annotations"): ("annotations", lambda key: {key}),
    ("entries", "note_feeds"): ("note_feeds", lambda key: {key}),
    ("annotations", "entry"): ("entries", lambda key: {key}),
    ("annotations", "dataset"): ("datasets", _project),
    ("annotations", "project"): ("projects", _project),
    ("note_feeds", "entry"): ("entries", lambda key: {key}),
    ("note_feeds", "annotation"): ("annotations", lambda key: {key}),
    ("note_feeds", "note_comments"): ("note_comments", lambda key: {key}),
    ("note_feeds", "dataset"): ("datasets", _project),
    ("note_feeds", "project"): ("projects", _project),
    ("note_comments", "note_feed"): ("note_feeds", lambda key: {key}),
}
# every include path of DESIGN §3, per resource
INCLUDES = {
    "projects": "datasets,project_members",
    "project_members": "project",
    "datasets": "project,entries",
    "entries": "dataset,dataset.project,project,annotations,note_feeds",
    "annotations": "entry,dataset,project",
    "note_feeds": "entry,annotation,note_comments,dataset,project",
    "note_comments": "note_feed",
}


def envelope(resource, attributes, rid=None):
    data = {"type": f"dataset:{resource}", "attributes": attributes}
    if rid is not None:
        data["id"] = rid
    return {"data": data}


def build_world(admin, client):
    """Create the world of the module docstring with the admin client; return {resource: {key: id}}."""
    ids = {resource: {} for resource in RESOURCES}
    for key, organization in (("A", 1), ("B", 2)):
        ids["projects"][key] = factories.project(admin, f"Project {key}", organization)["id"]
    for project, account, role in MEMBERS:
        ids["project_members"][f"{project}/{account}"] = factories.member(
            admin, ids["projects"][project], account, role, email(account),
            disabled=f"{project}/{account}" == "A/13")["id"]
    for key in ("A", "B"):
        ids["datasets"][key] = factories.dataset(admin, ids["projects"][key], f"Dataset {key}",
                                                 sample_rate=1)["id"]
    for key in ENTRY_KEYS:
        ids["entries"][key] = factories.entry(admin, ids["datasets"][key[0]], f"{key}.png")["id"]
    for key, account in (("A/assigned", 12), ("A/review", 12), ("A/owner", 10)):
        expect(factories.assign(admin, ids["entries"][key], account), 200)
    annotator = Api(client, TOKENS["annotator"])
    entry = expect(factories.submit(annotator, ids["entries"]["A/review"]), 200)
    assert entry["attributes"]["wf_step"] == "review" and entry["attributes"]["assigned_to_id"] is None
    for key in ENTRY_KEYS:
        ids["annotations"][key] = factories.annotation(admin, ids["entries"][key], key)["id"]
        ids["note_feeds"][key] = factories.note_feed(admin, ids["entries"][key], f"About {key}",
                                                     ids["annotations"][key])["id"]
        ids["note_comments"][key] = factories.note_comment(admin, ids["note_feeds"][key],
                                                           f"On {key}")["id"]
    return ids


class World:
    """The built world: a client per caller, ids by key and keys by id."""

    def __init__(self, client, ids):
        self.client, self.ids = client, ids
        self.keys = {(resource, rid): key for resource, by_key in ids.items() for key, rid in by_key.items()}

    def as_(self, caller):
        return Api(self.client, TOKENS[caller])

    def id(self, resource, key):
        return self.ids[resource][key]

    def url(self, resource, key):
        return f"/{resource}/{self.id(resource, key)}"

    def key(self, resource, rid):
        """The key of a world record, or ``new:<id>`` for a record the test created."""
        return self.keys.get((resource, str(rid)), f"new:{rid}")

    def fill(self, value):
        """Replace ``{entries[A/open]}``-style placeholders in strings (at any depth) by ids."""
        if isinstance(value, str):
            return value.format(**self.ids)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def admin_view(self, resource):
        """{id: attributes} of every ``resource`` record, as the admin sees them."""
        resp = self.as_("admin").get(f"/{resource}")
        assert resp.status_code == 200, resp.text
        return {item["id"]: item["attributes"] for item in resp.json()["data"]}


def restore(snapshot):
    """Put every table back to the rows of ``snapshot``."""
    with db.connection_context(), db.atomic():
        for model in reversed(MODELS):
            model.delete().execute()
        for model in MODELS:
            if snapshot[model]:
                model.insert_many(snapshot[model]).execute()
        if PG_URL:  # serial ids (project members) continue after the restored ones
            table = ProjectMember._meta.table_name
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app for the module (building one takes seconds) and the world, built once."""
    with app_client(tmp_path_factory.mktemp("permissions")) as client:
        ids = build_world(Api(client, TOKENS["admin"]), client)
        with db.connection_context():
            snapshot = {model: list(model.select().dicts()) for model in MODELS}
        yield SimpleNamespace(world=World(client, ids), snapshot=snapshot)


@pytest.fixture
def world(server):
    """The world as ``build_world`` left it, whatever earlier tests changed."""
    restore(server.snapshot)
    return server.world


def keys_of(world, items):
    """{(resource, key)} of JSON:API resource objects."""
    return {(item["type"].split(":")[1], world.key(item["type"].split(":")[1], item["id"]))
            for item in items}


# ------------------------------------------------------------------------------ reading: the tables

@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("caller", CALLERS)
def test_index_lists_exactly_what_the_caller_may_read(world, caller, resource):
    api = world.as_(caller)
    resp = api.get(f"/{resource}?count=true")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    listed = [world.key(resource, item["id"]) for item in body["data"]]
    assert sorted(listed) == sorted(READS[caller][resource])
    assert body["meta"]["count"] == len(READS[caller][resource])
    # the count is of every readable row, not of the page
    one = api.get(f"/{resource}?count=true&page[size]=1").json()
    assert one["meta"]["count"] == len(READS[caller][resource])
    assert len(one["data"]) == min(1, len(READS[caller][resource]))


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("caller", CALLERS)
def test_show_answers_200_for_readable_records_and_404_for_the_others(world, caller, resource):
    api = world.as_(caller)
    got = {key: api.get(world.url(resource, key)).status_code for key in world.ids[resource]}
    assert got == {key: 200 if key in READS[caller][resource] else 404 for key in world.ids[resource]}


def expected_included(caller, resource, paths):
    """(resource, key) of every record ``paths`` reach from the readable rows and the caller may read."""
    primary = {(resource, key) for key in READS[caller][resource]}
    found = set()
    for path in paths.split(","):
        current = primary
        for relationship in path.split("."):
            step = set()
            for res, key in current:
                target, related = LINKS[(res, relationship)]
                step |= {(target, k) for k in related(key) if k in READS[caller][target]}
            found |= step
            current = step
    return found - primary


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("caller", CALLERS)
def test_included_and_relationships_hold_only_readable_records(world, caller, resource):
    resp = world.as_(caller).get(f"/{resource}?include={INCLUDES[resource]}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert keys_of(world, body["included"]) == expected_included(caller, resource, INCLUDES[resource])
    for item in body["data"] + body["included"]:  # to-many linkage: the readable related records only
        res = item["type"].split(":")[1]
        for relationship, value in item.get("relationships", {}).items():
            if isinstance(value["data"], list):
                target, related = LINKS[(res, relationship)]
                assert {world.key(target, link["id"]) for link in value["data"]} == {
                    k for k in related(world.key(res, item["id"])) if k in READS[caller][target]
                }, (item["id"], relationship)


# ------------------------------------------------------------------------ reading: the event log
# docs/permissions.md, "The event log": owners read every event of their projects, workers the
# events about the records they may read now (READS), so each caller's log is about READS' records.

def record_of(world, event):
    """(resource, key) of the record an event is about (an import's: its dataset)."""
    name = event["attributes"]["name"]
    resource = "datasets" if name == "dataset:entries:imported" else name.split(":")[1]
    return resource, world.key(resource, event["attributes"]["resource_id"])


@pytest.mark.parametrize("caller", CALLERS)
def test_the_event_log_holds_the_events_about_what_the_caller_may_read(world, caller):
    api = world.as_(caller)
    body = api.get("/events?page[size]=1000&count=true").json()
    assert {record_of(world, event) for event in body["data"]} == {
        (resource, key) for resource, keys in READS[caller].items() for key in keys}
    assert body["meta"]["count"] == len(body["data"])
    listed = {event["id"] for event in body["data"]}
    for event in world.as_("admin").get("/events?page[size]=1000").json()["data"]:
        assert api.get(f"/events/{event['id']}").status_code == (200 if event["id"] in listed else 404)


def test_an_event_about_a_record_deleted_since_is_the_owners_only(world):
    annotation = world.id("annotations", "A/assigned")

    def log(caller):
        events = world.as_(caller).get(f"/events?filter[resource_id]={annotation}").json()["data"]
        return [event["attributes"]["name"] for event in events]

    assert log("annotator") == ["dataset:annotations:created"]
    assert world.as_("admin").delete(f"/annotations/{annotation}").status_code == 204
    assert log("annotator") == []
    for owner in OWNERS_OF_A:
        assert log(owner) == ["dataset:annotations:created", "dataset:annotations:deleted"]
    assert log("other_project_member") == log("org_owner_2") == []


@pytest.mark.parametrize("parameter", ["include", "included"])
def test_the_annotator_listing_entries_with_everything_included_sees_only_its_records(world, parameter):
    resp = world.as_("annotator").get(f"/entries?{parameter}=dataset,project,annotations,note_feeds")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    mine = {"A/assigned", "A/open", "A/review"}  # not the owner's entry, nothing of project B
    assert keys_of(world, body["data"]) == {("entries", k) for k in mine}
    assert keys_of(world, body["included"]) == {("datasets", "A"), ("projects", "A")} | {
        (res, k) for res in ("annotations", "note_feeds") for k in mine}


# ------------------------------------------------------------------------------ writing: the tables

# case -> (resource, attributes of the record to create, key of the record to update and delete,
#          the update); "{projects[A]}" stands for the id of project A
WRITE_CASES = {
    "projects": ("projects", {"name": "New", "organization_id": 1}, "A", {"name": "Renamed"}),
    "projects of organization 2": ("projects", {"name": "New", "organization_id": 2}, "B",
                                   {"name": "Renamed"}),
    # the update raises the annotator's own membership to project_owner
    "project_members": ("project_members", {"project_id": "{projects[A]}", "account_id": 50,
                                            "email": "user50@example.com", "role": "annotator"},
                        "A/12", {"role": "project_owner"}),
    "datasets": ("datasets", {"project_id": "{projects[A]}", "name": "New", "modality": "image"}, "A",
                 {"name": "Renamed"}),
    "entries": ("entries", {"dataset_id": "{datasets[A]}", "resource": "new.png"}, "A/review",
                {"priority": 5}),
    "annotations of the annotator's entry": (
        "annotations", {"entry_id": "{entries[A/assigned]}", "dimensions": {"x": 2},
                        "annotation": {"label": "new"}}, "A/assigned", {"annotation": {"label": "cat"}}),
    "annotations of the unassigned review entry": (
        "annotations", {"entry_id": "{entries[A/review]}", "dimensions": {"x": 2},
                        "annotation": {"label": "new"}}, "A/review", {"annotation": {"label": "cat"}}),
    # feeds and comments of the review entry (which both workers read), written by the admin
    "note_feeds": ("note_feeds", {"entry_id": "{entries[A/review]}", "content_md": "New",
                                  "annotation_id": "{annotations[A/review]}"},
                   "A/review", {"content_md": "Changed"}),
    "note_comments": ("note_comments", {"note_feed_id": "{note_feeds[A/review]}", "content_md": "New"},
                      "A/review", {"content_md": "Changed"}),
}
OPERATIONS = ("create", "update", "delete")

# (create, update, delete)
ALLOWED = (201, 200, 204)
FORBIDDEN = (403, 403, 403)  # readable, not writable
HIDDEN = (404, 404, 404)  # not readable (the parent, on create)
NOT_YOURS = (403, 404, 404)  # projects: nothing to read on create, so 403; then the project is unreadable
AUTHOR_ONLY = (201, 403, 403)  # a reader creates; only owners and the author change and delete

WRITES = {
    "admin": {case: ALLOWED for case in WRITE_CASES},
    "org_owner_1": {
        "projects": ALLOWED, "projects of organization 2": NOT_YOURS, "project_members": ALLOWED,
        "datasets": ALLOWED, "entries": ALLOWED, "annotations of the annotator's entry": ALLOWED,
        "annotations of the unassigned review entry": ALLOWED, "note_feeds": ALLOWED,
        "note_comments": ALLOWED,
    },
    "org_owner_2": {
        "projects": NOT_YOURS, "projects of organization 2": ALLOWED, "project_members": HIDDEN,
        "datasets": HIDDEN, "entries": HIDDEN, "annotations of the annotator's entry": HIDDEN,
        "annotations of the unassigned review entry": HIDDEN, "note_feeds": HIDDEN,
        "note_comments": HIDDEN,
    },
    "project_owner": {  # owns project A but may not create projects (a plain user)
        "projects": (403, 200, 204), "projects of organization 2": NOT_YOURS,
        "project_members": ALLOWED, "datasets": ALLOWED, "entries": ALLOWED,
        "annotations of the annotator's entry": ALLOWED,
        "annotations of the unassigned review entry": ALLOWED, "note_feeds": ALLOWED,
        "note_comments": ALLOWED,
    },
    "reviewer": {
        "projects": FORBIDDEN, "projects of organization 2": NOT_YOURS, "project_members": FORBIDDEN,
        "datasets": FORBIDDEN, "entries": FORBIDDEN,
        "annotations of the annotator's entry": HIDDEN,  # the reviewer cannot read that entry
        "annotations of the unassigned review entry": FORBIDDEN,  # readable, not the assignee
        "note_feeds": AUTHOR_ONLY, "note_comments": AUTHOR_ONLY,
    },
    "annotator": {
        "projects": FORBIDDEN, "projects of organization 2": NOT_YOURS,
        "project_members": FORBIDDEN,  # including raising their own role
        "datasets": FORBIDDEN, "entries": FORBIDDEN,
        "annotations of the annotator's entry": ALLOWED,  # the assignee
        "annotations of the unassigned review entry": FORBIDDEN,  # readable (they submitted it)
        "note_feeds": AUTHOR_ONLY, "note_comments": AUTHOR_ONLY,
    },
    "disabled_member": {
        "projects": NOT_YOURS, "projects of organization 2": NOT_YOURS, "project_members": HIDDEN,
        "datasets": HIDDEN, "entries": HIDDEN, "annotations of the annotator's entry": HIDDEN,
        "annotations of the unassigned review entry": HIDDEN, "note_feeds": HIDDEN,
        "note_comments": HIDDEN,
    },
    "other_project_member": {  # reads project B, may not change it
        "projects": NOT_YOURS, "projects of organization 2": FORBIDDEN, "project_members": HIDDEN,
        "datasets": HIDDEN, "entries": HIDDEN, "annotations of the annotator's entry": HIDDEN,
        "annotations of the unassigned review entry": HIDDEN, "note_feeds": HIDDEN,
        "note_comments": HIDDEN,
    },
    "non_member": {
        "projects": NOT_YOURS, "projects of organization 2": NOT_YOURS, "project_members": HIDDEN,
        "datasets": HIDDEN, "entries": HIDDEN, "annotations of the annotator's entry": HIDDEN,
        "annotations of the unassigned review entry": HIDDEN, "note_feeds": HIDDEN,
        "note_comments": HIDDEN,
    },
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("case", WRITE_CASES)
@pytest.mark.parametrize("caller", CALLERS)
def test_writes_follow_the_table(world, caller, case, operation):
    resource, new, target, change = WRITE_CASES[case]
    expected = WRITES[caller][case][OPERATIONS.index(operation)]
    target_id = world.id(resource, target)
    api = world.as_(caller)
    before = world.admin_view(resource)
    if operation == "create":
        resp = api.post(f"/{resource}", envelope(resource, world.fill(new)))
    elif operation == "update":
        resp = api.patch(f"/{resource}/{target_id}", envelope(resource, change, target_id))
    else:
        resp = api.delete(f"/{resource}/{target_id}")
    assert resp.status_code == expected, resp.text
    after = world.admin_view(resource)
    if expected >= 400:
        assert resp.json()["errors"][0]["status"] == str(expected)
        assert after == before, "a refused write changed something"
    elif operation == "create":
        assert set(after) - set(before) == {resp.json()["data"]["id"]}
    elif operation == "update":
        assert after[target_id] == {**after[target_id], **change}
    else:
        assert target_id not in after


def test_feeds_and_comments_can_be_changed_by_their_author_and_owners_only(world):
    annotator, reviewer, owner = (world.as_(c) for c in ("annotator", "reviewer", "project_owner"))
    feed = factories.note_feed(annotator, world.id("entries", "A/review"), "Blurry?",
                               world.id("annotations", "A/review"))
    comment = factories.note_comment(annotator, feed, "Very.")
    for resource, record in (("note_feeds", feed), ("note_comments", comment)):
        url, change = f"/{resource}/{record['id']}", envelope(resource, {"content_md": "x"}, record["id"])
        assert reviewer.get(url).status_code == 200  # the reviewer reads it, but is not its author
        assert reviewer.patch(url, change).status_code == 403
        assert reviewer.delete(url).status_code == 403
        assert annotator.patch(url, change).status_code == 200
        assert owner.patch(url, change).status_code == 200
    assert annotator.delete(f"/note_comments/{comment['id']}").status_code == 204
    assert annotator.delete(f"/note_feeds/{feed['id']}").status_code == 204


@pytest.mark.parametrize("caller", OWNERS_OF_A)
def test_annotations_of_a_completed_entry_cannot_change_even_for_owners(world, caller):
    admin, api = world.as_("admin"), world.as_(caller)
    expect(factories.submit(admin, world.id("entries", "A/review"),
                            {"data": {"attributes": {"approved": True}}}), 200)
    url = world.url("annotations", "A/review")
    rid = world.id("annotations", "A/review")
    assert api.patch(url, envelope("annotations", {"annotation": {"label": "x"}}, rid)).status_code == 409
    assert api.delete(url).status_code == 409
    assert api.post("/annotations", envelope("annotations", {
        "entry_id": world.id("entries", "A/review"), "dimensions": {}, "annotation": {}})).status_code == 409


def test_an_org_owner_is_an_owner_only_in_their_organizations(world):
    """org_owner 31 (organization 2), made a reviewer of project A: reads A as a worker, owns none of it."""
    factories.member(world.as_("admin"), world.id("projects", "A"), 31, "reviewer", email(31))
    api = world.as_("org_owner_2")
    assert api.get(world.url("projects", "A")).status_code == 200
    assert api.patch(world.url("projects", "A"), envelope(
        "projects", {"name": "Renamed"}, world.id("projects", "A"))).status_code == 403
    assert api.patch(world.url("datasets", "A"), envelope(
        "datasets", {"name": "Renamed"}, world.id("datasets", "A"))).status_code == 403
    assert api.post("/entries", envelope("entries", {
        "dataset_id": world.id("datasets", "A"), "resource": "new.png"})).status_code == 403
    assert api.patch(f"/entries/{world.id('entries', 'A/review')}/assign",
                     {"data": {"attributes": {"assigned_to_id": 11}}}).status_code == 403
    assert api.post("/projects", envelope("projects", {"name": "New", "organization_id": 1})).status_code \
        == 403


# ------------------------------------------------------------------- moving a project between organizations

# an org_owner of both organizations, beside the callers of the tables
BOTH_ORGS = token(account_id=32, email=email(32), role="org_owner", orgs=[1, 2])

# PATCH project A (organization 1) with organization_id 2, then with organization_id 1 (its own, or
# back where it was when the first moved it):
# moving needs the right to create a project in the new organization (admin; org_owner of it),
# keeping it needs only the right to update the project (docs/permissions.md, DESIGN §2)
MOVES = {
    "admin": (200, 200),
    "org_owner_of_both": (200, 200),
    "org_owner_1": (403, 200),  # owns the project, may not create in organization 2
    "org_owner_2": (404, 404),  # may create in organization 2, cannot read project A
    "project_owner": (403, 200),  # a plain user owning the project
    "reviewer": (403, 403), "annotator": (403, 403),
    "disabled_member": (404, 404), "other_project_member": (404, 404), "non_member": (404, 404),
}


@pytest.mark.parametrize("caller", MOVES)
def test_a_project_changes_organization_only_for_who_may_create_one_there(world, caller):
    api = Api(world.client, BOTH_ORGS) if caller == "org_owner_of_both" else world.as_(caller)
    project = world.id("projects", "A")
    for organization, expected in zip((2, 1), MOVES[caller], strict=True):
        before = world.admin_view("projects")
        resp = api.patch(f"/projects/{project}", envelope(
            "projects", {"organization_id": organization, "name": f"Moved to {organization}"}, project))
        assert resp.status_code == expected, (organization, resp.text)
        after = world.admin_view("projects")
        if expected == 200:
            assert (after[project]["organization_id"], after[project]["name"]) == (
                organization, f"Moved to {organization}")
            continue
        assert after == before, "a refused move changed something"  # the name too: all or nothing
        if expected == 403 and MOVES[caller][1] == 200:  # refused for the move, not the update
            error = resp.json()["errors"][0]
            assert error["source"] == {"pointer": "/data/attributes/organization_id"}, error


def test_an_org_owner_cannot_move_the_project_it_created_to_another_organization(world):
    api = world.as_("org_owner_1")
    project = api.create("projects", name="Mine", organization_id=1)
    url = f"/projects/{project['id']}"
    assert api.patch(url, envelope("projects", {"organization_id": 2}, project["id"])).status_code == 403
    assert api.patch(url, envelope("projects", {"organization_id": 1}, project["id"])).status_code == 200
    assert world.as_("admin").get(url).json()["data"]["attributes"]["organization_id"] == 1
    # an admin moves it; then its former org_owner no longer owns (nor reads) it
    admin = world.as_("admin")
    assert admin.patch(url, envelope("projects", {"organization_id": 2}, project["id"])).status_code == 200
    assert api.get(url).status_code == 404


# ------------------------------------------------------------------------------------ the workflow

# case -> (method, path, attributes of the body or None)
WORKFLOW_CASES = {
    "assign A/review to the reviewer": ("PATCH", "/entries/{entries[A/review]}/assign",
                                        {"assigned_to_id": 11}),
    "select A/open": ("GET", "/entries/{entries[A/open]}/select", None),
    "select A/review": ("GET", "/entries/{entries[A/review]}/select", None),
    "select A/assigned": ("GET", "/entries/{entries[A/assigned]}/select", None),
    "submit A/assigned": ("POST", "/entries/{entries[A/assigned]}/submit", None),
    "approve A/review": ("POST", "/entries/{entries[A/review]}/submit", {"approved": True}),
    "error A/assigned": ("POST", "/entries/{entries[A/assigned]}/error", {"message": "Corrupt"}),
    "error A/review": ("POST", "/entries/{entries[A/review]}/error", {"message": "Corrupt"}),
    "next in dataset A": ("GET", "/entries/next?filter[dataset_id]={datasets[A]}", None),
    "next in dataset B": ("GET", "/entries/next?filter[dataset_id]={datasets[B]}", None),
    "resolve the feed of A/review": ("POST", "/note_feeds/{note_feeds[A/review]}/resolve", None),
}

OWNER_WORKFLOW = {
    "assign A/review to the reviewer": 200, "select A/open": 200, "select A/review": 200,
    "select A/assigned": 409,  # the annotator's: someone else's entry
    "submit A/assigned": 200, "approve A/review": 200, "error A/assigned": 200, "error A/review": 200,
    "next in dataset A": 200, "next in dataset B": 404, "resolve the feed of A/review": 200,
}
NOTHING_READABLE = {case: 404 for case in WORKFLOW_CASES}

WORKFLOW = {
    "admin": {**OWNER_WORKFLOW, "next in dataset B": 200},
    "org_owner_1": OWNER_WORKFLOW,
    "org_owner_2": {**NOTHING_READABLE, "next in dataset B": 200},
    "project_owner": OWNER_WORKFLOW,
    "reviewer": {
        "assign A/review to the reviewer": 403,  # reads the entry, is no owner
        "select A/open": 404,  # at annotate: not readable by a reviewer
        "select A/review": 200,
        "select A/assigned": 404,
        "submit A/assigned": 404,
        "approve A/review": 409,  # reads it, is not the assignee
        "error A/assigned": 404,
        "error A/review": 409,
        "next in dataset A": 200, "next in dataset B": 404, "resolve the feed of A/review": 200,
    },
    "annotator": {
        "assign A/review to the reviewer": 403,
        "select A/open": 200,
        "select A/review": 403,  # reads it (submitted it), but an annotator cannot work review
        "select A/assigned": 200,  # already theirs: unchanged
        "submit A/assigned": 200,  # the assignee
        "approve A/review": 409,
        "error A/assigned": 200,
        "error A/review": 409,
        "next in dataset A": 200, "next in dataset B": 404, "resolve the feed of A/review": 200,
    },
    "disabled_member": NOTHING_READABLE,
    "other_project_member": {**NOTHING_READABLE, "next in dataset B": 200},
    "non_member": NOTHING_READABLE,
}


@pytest.mark.parametrize("case", WORKFLOW_CASES)
@pytest.mark.parametrize("caller", CALLERS)
def test_workflow_actions_follow_the_table(world, caller, case):
    method, path, attributes = WORKFLOW_CASES[case]
    body = {"data": {"attributes": attributes}} if attributes is not None else None
    resp = world.as_(caller).request(method, world.fill(path), body)
    assert resp.status_code == WORKFLOW[caller][case], resp.text
    if resp.status_code == 200 and "/next" not in path:
        assert resp.json()["data"]["id"] == world.fill(path).split("/")[2]


# -------------------------------------------------------------------------------------- JSON-RPC

OK, RPC_FORBIDDEN, RPC_NOT_FOUND = "ok", -32003, -32004


def rpc(api, method, params):
    """One call on POST /annotations/_rpc; return its reply object."""
    resp = api.client.post(RPC, content=json.dumps({"jsonrpc": "2.0", "method": method,
                                                    "params": params, "id": 1}),
                           headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {api.bearer}"})
    assert resp.status_code == 200, resp.text
    reply = resp.json()
    assert reply["id"] == 1 and ("result" in reply) != ("error" in reply), reply
    return reply


def outcome(reply):
    return OK if "result" in reply else reply["error"]["code"]


# caller -> outcome of annotation create, update and delete, by the entry the annotation is on
RPC_WRITES = {
    "admin": {"A/assigned": OK, "A/review": OK},
    "org_owner_1": {"A/assigned": OK, "A/review": OK},
    "org_owner_2": {"A/assigned": RPC_NOT_FOUND, "A/review": RPC_NOT_FOUND},
    "project_owner": {"A/assigned": OK, "A/review": OK},
    "reviewer": {"A/assigned": RPC_NOT_FOUND, "A/review": RPC_FORBIDDEN},
    "annotator": {"A/assigned": OK, "A/review": RPC_FORBIDDEN},
    "disabled_member": {"A/assigned": RPC_NOT_FOUND, "A/review": RPC_NOT_FOUND},
    "other_project_member": {"A/assigned": RPC_NOT_FOUND, "A/review": RPC_NOT_FOUND},
    "non_member": {"A/assigned": RPC_NOT_FOUND, "A/review": RPC_NOT_FOUND},
}
# method -> its params, for the entry ``key`` (create) or the annotation on it (update, delete)
RPC_CALLS = {
    "create": lambda world, key: {"entry_id": world.id("entries", key), "dimensions": {"x": 2},
                                  "annotation": {"label": "new"}},
    "update": lambda world, key: {"id": world.id("annotations", key), "annotation": {"label": "cat"}},
    "delete": lambda world, key: {"id": world.id("annotations", key)},
}


@pytest.mark.parametrize("entry", ["A/assigned", "A/review"])
@pytest.mark.parametrize("method", RPC_CALLS)
@pytest.mark.parametrize("caller", CALLERS)
def test_rpc_writes_follow_the_table(world, caller, method, entry):
    before = world.admin_view("annotations")
    reply = rpc(world.as_(caller), method, RPC_CALLS[method](world, entry))
    assert outcome(reply) == RPC_WRITES[caller][entry], reply
    if outcome(reply) != OK:
        assert world.admin_view("annotations") == before, "a refused call changed something"


@pytest.mark.parametrize("caller", CALLERS)
def test_rpc_show_answers_for_readable_annotations_and_minus_32004_for_the_others(world, caller):
    api = world.as_(caller)
    got = {key: outcome(rpc(api, "show", {"id": rid})) for key, rid in world.ids["annotations"].items()}
    assert got == {key: OK if key in READS[caller]["annotations"] else RPC_NOT_FOUND
                   for key in world.ids["annotations"]}


@pytest.mark.parametrize("caller", CALLERS)
def test_rpc_index_lists_exactly_the_readable_annotations(world, caller):
    reply = rpc(world.as_(caller), "index", {"count": True})
    result = reply["result"]
    assert sorted(world.key("annotations", a["id"]) for a in result["data"]) == sorted(
        READS[caller]["annotations"])
    assert result["meta"]["count"] == len(READS[caller]["annotations"])


# ------------------------------------------------------------------------ annotation revisions

HTTP_OF = {OK: 200, RPC_FORBIDDEN: 403, RPC_NOT_FOUND: 404}
RESTORE = {"data": {"attributes": {"revision": 1}}}


@pytest.mark.parametrize("entry", ["A/assigned", "A/review"])
@pytest.mark.parametrize("caller", CALLERS)
def test_revisions_are_read_as_the_annotation_and_restored_as_it_is_updated(world, caller, entry):
    """GET /annotations/{id}/revisions and JSON-RPC revisions: whoever reads the annotation;
    POST /annotations/{id}/restore and JSON-RPC restore: whoever may update it (RPC_WRITES)."""
    api, rid = world.as_(caller), world.id("annotations", entry)
    readable = entry in READS[caller]["annotations"]
    assert api.get(f"/annotations/{rid}/revisions").status_code == (200 if readable else 404)
    assert outcome(rpc(api, "revisions", {"id": rid})) == (OK if readable else RPC_NOT_FOUND)
    before = world.admin_view("annotations")
    resp = api.post(f"/annotations/{rid}/restore", RESTORE)
    assert resp.status_code == HTTP_OF[RPC_WRITES[caller][entry]], resp.text
    if resp.status_code != 200:
        assert world.admin_view("annotations") == before, "a refused restore changed something"
    assert outcome(rpc(api, "restore", {"id": rid, "revision": 1})) == RPC_WRITES[caller][entry]


@pytest.mark.parametrize("caller", CALLERS)
def test_the_revisions_index_lists_exactly_those_of_readable_entries(world, caller):
    """Every annotation of the world has one revision; a deleted annotation's stay readable by
    whoever reads its entry."""
    assert world.as_("admin").delete(world.url("annotations", "A/review")).status_code == 204
    resp = world.as_(caller).get("/annotation_revisions?count=true")
    assert resp.status_code == 200, resp.text
    listed = [(world.key("annotations", r["attributes"]["annotation_id"]), r["attributes"]["operation"])
              for r in resp.json()["data"]]
    readable = READS[caller]["entries"]
    assert sorted(listed) == sorted([(key, "created") for key in readable]
                                    + [("A/review", "deleted")] * ("A/review" in readable))
    assert resp.json()["meta"]["count"] == len(listed)
    deleted = world.id("annotations", "A/review")
    assert world.as_(caller).get(f"/annotations/{deleted}/revisions").status_code == (
        200 if "A/review" in readable else 404)


# ------------------------------------------------------------------ object-level authorization

# child resource -> (attribute naming the parent, parent resource)
PARENTS = {"project_members": ("project_id", "projects"), "datasets": ("project_id", "projects"),
           "entries": ("dataset_id", "datasets"), "annotations": ("entry_id", "entries"),
           "note_feeds": ("entry_id", "entries"), "note_comments": ("note_feed_id", "note_feeds")}
CHANGES = {"projects": {"name": "Renamed"}, "project_members": {"role": "reviewer"},
           "datasets": {"name": "Renamed"}, "entries": {"priority": 5},
           "annotations": {"annotation": {"label": "cat"}}, "note_feeds": {"content_md": "Changed"},
           "note_comments": {"content_md": "Changed"}}


def other_organization_records(world, organization):
    """(resource, key, id) of every record of the organization that is not ``organization``."""
    theirs = "B" if organization == 1 else "A"
    return [(resource, key, rid) for resource, by_key in world.ids.items()
            for key, rid in by_key.items() if key[0] == theirs]


@pytest.mark.parametrize("caller", [c for callers in ORGANIZATIONS.values() for c in callers])
def test_no_record_of_one_organization_is_readable_from_the_other(world, caller):
    """Every GET path (show, with includes, filtered index, workflow GETs), JSON-RPC show and index
    and every write, with the ids of the other organization: all 404 / -32004 / empty."""
    organization = next(org for org, callers in ORGANIZATIONS.items() if caller in callers)
    api = world.as_(caller)
    theirs = other_organization_records(world, organization)
    their_ids = {rid for _, _, rid in theirs}
    leaks = []

    def check(what, got, expected):
        if got != expected:
            leaks.append(f"{what}: {got!r}, expected {expected!r}")

    for resource in RESOURCES:  # every index, with every include: none of their ids anywhere
        body = api.get(f"/{resource}?include={INCLUDES[resource]}").json()
        seen = {item["id"] for item in body["data"] + body["included"]}
        seen |= {link["id"] for item in body["data"] + body["included"]
                 for rel in item.get("relationships", {}).values() if isinstance(rel["data"], list)
                 for link in rel["data"]}
        check(f"GET /{resource}?include=…", seen & their_ids, set())
    for resource, key, rid in theirs:
        url = f"/{resource}/{rid}"
        check(f"GET {url} ({key})", api.get(url).status_code, 404)
        check(f"GET {url}?include=… ({key})", api.get(f"{url}?include={INCLUDES[resource]}").status_code,
              404)
        filtered = api.get(f"/{resource}?filter[id]={rid}&count=true").json()
        check(f"GET /{resource}?filter[id]={rid} ({key})", (filtered["data"], filtered["meta"]["count"]),
              ([], 0))
    for resource, key, rid in theirs:  # their records named as parents, and the reading actions
        for child, (attribute, parent) in PARENTS.items():
            if parent == resource:
                got = api.get(f"/{child}?filter[{attribute}]={rid}").json()["data"]
                check(f"GET /{child}?filter[{attribute}]={rid} ({key})", got, [])
        if resource == "entries":
            check(f"GET /entries/{rid}/select", api.get(f"/entries/{rid}/select").status_code, 404)
        if resource == "datasets":
            check(f"GET /entries/next?filter[dataset_id]={rid}",
                  api.get(f"/entries/next?filter[dataset_id]={rid}").status_code, 404)
        if resource == "annotations":
            check(f"rpc show {key}", outcome(rpc(api, "show", {"id": rid})), RPC_NOT_FOUND)
            result = rpc(api, "index", {"filter": {"id": rid}, "count": True})["result"]
            check(f"rpc index filter id {key}", (result["data"], result["meta"]["count"]), ([], 0))
    for resource, key, rid in theirs:  # and writes: nothing to act on
        url = f"/{resource}/{rid}"
        check(f"PATCH {url} ({key})", api.patch(url, envelope(resource, CHANGES[resource], rid)).status_code,
              404)
        if resource == "entries":
            for action, attributes in (("assign", {"assigned_to_id": 20}), ("submit", {}),
                                       ("error", {"message": "Corrupt"})):
                method = "PATCH" if action == "assign" else "POST"
                status = api.request(method, f"/entries/{rid}/{action}",
                                     {"data": {"attributes": attributes}}).status_code
                check(f"{method} /entries/{rid}/{action}", status, 404)
        if resource == "note_feeds":
            check(f"POST /note_feeds/{rid}/resolve", api.post(f"/note_feeds/{rid}/resolve").status_code, 404)
        if resource == "annotations":
            check(f"rpc update {key}", outcome(rpc(api, "update", {"id": rid, "annotation": {}})),
                  RPC_NOT_FOUND)
            check(f"rpc delete {key}", outcome(rpc(api, "delete", {"id": rid})), RPC_NOT_FOUND)
        check(f"DELETE {url} ({key})", api.delete(url).status_code, 404)
    assert not leaks, "\n".join(leaks)


# -------------------------------------------------------------------------- managing members

# (add a member, change a role, disable a member, enable the disabled member)
MEMBER_MANAGEMENT = {
    "admin": (201, 200, 200, 200),
    "org_owner_1": (201, 200, 200, 200),
    "org_owner_2": (404, 404, 404, 404),
    "project_owner": (201, 200, 200, 200),
    "reviewer": (403, 403, 403, 403),
    "annotator": (403, 403, 403, 403),
    "disabled_member": (404, 404, 404, 404),  # not even re-enabling themselves
    "other_project_member": (404, 404, 404, 404),
    "non_member": (404, 404, 404, 404),
}


def member_patch(world, key, attributes):
    rid = world.id("project_members", key)
    return f"/project_members/{rid}", envelope("project_members", attributes, rid)


@pytest.mark.parametrize("caller", CALLERS)
def test_only_owners_add_change_and_disable_members(world, caller):
    api = world.as_(caller)
    statuses = (
        api.post("/project_members", envelope("project_members", {
            "project_id": world.id("projects", "A"), "account_id": 50, "email": "user50@example.com",
            "role": "reviewer"})).status_code,
        api.patch(*member_patch(world, "A/11", {"role": "annotator"})).status_code,
        api.patch(*member_patch(world, "A/12", {"disabled_at": "2026-02-01T00:00:00Z"})).status_code,
        api.patch(*member_patch(world, "A/13", {"disabled_at": None})).status_code,
    )
    assert statuses == MEMBER_MANAGEMENT[caller]


def owner_membership(world):
    return world.as_("admin").get(world.url("project_members", "A/10")).json()["data"]["attributes"]


@pytest.mark.parametrize("caller", OWNERS_OF_A)
def test_the_last_enabled_project_owner_cannot_be_demoted_disabled_or_deleted(world, caller):
    api = world.as_(caller)
    assert api.patch(*member_patch(world, "A/10", {"role": "reviewer"})).status_code == 409
    assert api.patch(*member_patch(world, "A/10", {"disabled_at": "2026-02-01T00:00:00Z"})).status_code \
        == 409
    assert api.delete(world.url("project_members", "A/10")).status_code == 409
    attributes = owner_membership(world)
    assert (attributes["role"], attributes["disabled_at"]) == ("project_owner", None)


def add_owner(world, api, account_id):
    return factories.member(api, world.id("projects", "A"), account_id, "project_owner", email(account_id))


def test_a_disabled_second_owner_does_not_count(world):
    admin = world.as_("admin")
    second = add_owner(world, admin, 51)
    factories.disable(admin, second, "2026-02-01T00:00:00Z")
    assert admin.patch(*member_patch(world, "A/10", {"role": "reviewer"})).status_code == 409
    assert admin.delete(world.url("project_members", "A/10")).status_code == 409


def test_the_owner_can_be_disabled_and_deleted_once_a_second_owner_exists(world):
    admin = world.as_("admin")
    add_owner(world, admin, 51)
    assert admin.patch(*member_patch(world, "A/10", {"disabled_at": "2026-02-01T00:00:00Z"})).status_code \
        == 200
    assert admin.patch(*member_patch(world, "A/10", {"disabled_at": None})).status_code == 200
    assert admin.delete(world.url("project_members", "A/10")).status_code == 204


def test_a_project_owner_steps_down_once_a_second_owner_exists_and_cannot_come_back(world):
    owner, admin = world.as_("project_owner"), world.as_("admin")
    second = add_owner(world, owner, 51)
    assert owner.patch(*member_patch(world, "A/10", {"role": "reviewer"})).status_code == 200
    # now a reviewer: reads the members, cannot raise their own role again
    assert owner.patch(*member_patch(world, "A/10", {"role": "project_owner"})).status_code == 403
    assert owner_membership(world)["role"] == "reviewer"
    # and the second owner is the last one
    url = f"/project_members/{second['id']}"
    for attributes in ({"role": "annotator"}, {"disabled_at": "2026-02-01T00:00:00Z"}):
        assert admin.patch(url, envelope("project_members", attributes, second["id"])).status_code == 409
    assert admin.delete(url).status_code == 409
