"""CRUD over HTTP for the seven JSON:API resources (DESIGN §2 and §3).

Success paths, parents as attributes or relationships, types and ids, derived and owned attributes,
note feeds, cascade deletes and dataset counters. The error statuses live in test_errors.py.
"""

import uuid

import pytest

from tests import factories
from tests.conftest import Api, token

RESOURCES = ("projects", "project_members", "datasets", "entries", "annotations", "note_feeds",
             "note_comments")
CHILDREN = RESOURCES[1:]
UUID_RESOURCES = tuple(r for r in RESOURCES if r != "project_members")

# resource -> (parent attribute, relationship name, parent resource)
PARENT = {
    "project_members": ("project_id", "project", "projects"),
    "datasets": ("project_id", "project", "projects"),
    "entries": ("dataset_id", "dataset", "datasets"),
    "annotations": ("entry_id", "entry", "entries"),
    "note_feeds": ("entry_id", "entry", "entries"),
    "note_comments": ("note_feed_id", "note_feed", "note_feeds"),
}

# resource -> (attribute, new value) for a partial update
CHANGE = {
    "projects": ("name", "Renamed"),
    "project_members": ("role", "reviewer"),
    "datasets": ("name", "Renamed"),
    "entries": ("priority", 42),
    "annotations": ("annotation", {"label": "cat"}),
    "note_feeds": ("content_md", "Edited text"),
    "note_comments": ("content_md", "Edited text"),
}

# attributes the server maintains itself and may change on any write
MOVING = {"updated_at", "edited_at"}


# ---------------------------------------------------------------------------------------- helpers

def envelope(res, attributes=None, *, rid=None, relationships=None, type_=None):
    data = {"type": type_ or f"dataset:{res}"}
    if rid is not None:
        data["id"] = rid
    if attributes is not None:
        data["attributes"] = attributes
    if relationships is not None:
        data["relationships"] = relationships
    return {"data": data}


def link(res, rid):
    return {"data": {"type": f"dataset:{res}", "id": rid}}


def url(res, obj_or_id):
    rid = obj_or_id["id"] if isinstance(obj_or_id, dict) else obj_or_id
    return f"/{res}/{rid}"


def new_attributes(res, world):
    """Attributes for a fresh, valid record of ``res`` whose parents exist in ``world``."""
    second_entry = world["all_entries"][1]["id"]
    return {
        "projects": {"name": "Fish", "organization_id": 3, "description": "Underwater"},
        "project_members": {"project_id": world["projects"]["id"], "account_id": 42,
                            "email": "new@example.com", "role": "annotator", "name": "New"},
        "datasets": {"project_id": world["projects"]["id"], "name": "Clips", "modality": "video",
                     "labels": ["fish"]},
        "entries": {"dataset_id": world["datasets"]["id"], "resource": "new.png", "priority": 5},
        "annotations": {"entry_id": second_entry, "dimensions": {"w": 2},
                        "annotation": {"label": "sky"}},
        "note_feeds": {"entry_id": world["entries"]["id"], "annotation_id": world["annotations"]["id"],
                       "content_md": "Is this blurry?", "position": {"x": 1, "y": 2}},
        "note_comments": {"note_feed_id": world["note_feeds"]["id"], "content_md": "Agreed."},
    }[res]


def known(world, res):
    """The ids of every ``res`` record the ``world`` fixture made."""
    if res == "entries":
        return {e["id"] for e in world["all_entries"]}
    return {world[res]["id"]}


def without(mapping, *keys):
    return {k: v for k, v in mapping.items() if k not in keys}


def stable(attributes):
    return without(attributes, *MOVING)


def ids(resp):
    assert resp.status_code == 200, resp.text
    return {item["id"] for item in resp.json()["data"]}


@pytest.fixture
def world(api, tree):
    """One record of every resource (keyed by resource name), built on ``tree``."""
    return factories.one_of_each(api, tree)


# ---------------------------------------------------------------------------------- success paths

@pytest.mark.parametrize("res", RESOURCES)
def test_create_answers_201_with_location_etag_and_the_document(api, world, res):
    attributes = new_attributes(res, world)
    resp = api.post(f"/{res}", envelope(res, attributes))
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/vnd.api+json")
    data = resp.json()["data"]
    assert data["type"] == f"dataset:{res}"
    assert resp.headers["Location"] == url(res, data)
    assert resp.headers["ETag"].startswith('"') and resp.headers["ETag"].endswith('"')
    for name, value in attributes.items():
        assert data["attributes"][name] == value, name
    assert data["attributes"]["created_at"].endswith("Z")
    assert data["links"]["self"] == url(res, data)


@pytest.mark.parametrize("res", RESOURCES)
def test_show_answers_200_with_the_etag_of_the_create(api, world, res):
    created = api.post(f"/{res}", envelope(res, new_attributes(res, world)))
    resp = api.get(created.headers["Location"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == created.json()["data"]
    assert resp.headers["ETag"] == created.headers["ETag"]


@pytest.mark.parametrize("res", RESOURCES)
def test_index_lists_created_records(api, world, res):
    before = ids(api.get(f"/{res}"))
    assert world[res]["id"] in before
    created = api.create(res, **new_attributes(res, world))
    resp = api.get(f"/{res}")
    assert ids(resp) == before | {created["id"]}
    assert resp.json()["meta"]["page"] == {"number": 1, "size": 1000}


@pytest.mark.parametrize("res", RESOURCES)
def test_update_is_partial_and_changes_the_etag(api, world, res):
    before = api.get(url(res, world[res]))
    name, value = CHANGE[res]
    resp = api.patch(url(res, world[res]), envelope(res, {name: value}, rid=world[res]["id"]))
    assert resp.status_code == 200, resp.text
    after = resp.json()["data"]["attributes"]
    assert after[name] == value
    assert without(stable(after), name) == without(stable(before.json()["data"]["attributes"]), name)
    assert after["updated_at"] > before.json()["data"]["attributes"]["updated_at"]
    assert resp.headers["ETag"] != before.headers["ETag"]
    shown = api.get(url(res, world[res]))
    assert shown.json()["data"] == resp.json()["data"]
    assert shown.headers["ETag"] == resp.headers["ETag"]


@pytest.mark.parametrize("res", RESOURCES)
def test_update_without_id_in_body_uses_the_url(api, world, res):
    name, value = CHANGE[res]
    resp = api.patch(url(res, world[res]), envelope(res, {name: value}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"][name] == value


@pytest.mark.parametrize("res", RESOURCES)
def test_fetched_resource_sent_back_unchanged_is_accepted(api, world, res):
    """Read-only and create-only attributes sent back are ignored."""
    fetched = api.get(url(res, world[res])).json()["data"]
    body = {"data": {k: fetched[k] for k in ("type", "id", "attributes")}}
    resp = api.patch(url(res, world[res]), body)
    assert resp.status_code == 200, resp.text
    assert stable(resp.json()["data"]["attributes"]) == stable(fetched["attributes"])


@pytest.mark.parametrize("res", RESOURCES)
def test_whole_fetched_document_sent_back_is_accepted(api, world, res):
    """DESIGN §3: "Read-only attributes are ignored, so a fetched document can be sent back"."""
    fetched = api.get(url(res, world[res])).json()
    resp = api.patch(url(res, world[res]), fetched)
    assert resp.status_code == 200, resp.text
    assert stable(resp.json()["data"]["attributes"]) == stable(fetched["data"]["attributes"])


INCLUDE = {"projects": "datasets", "project_members": "project", "datasets": "project", "entries": "dataset",
           "annotations": "entry", "note_feeds": "entry", "note_comments": "note_feed"}


@pytest.mark.parametrize("res", RESOURCES)
def test_fetched_document_with_included_sent_back_is_accepted(api, world, res):
    """``included`` and the parent relationships (set on create) are ignored as well."""
    fetched = api.get(f"{url(res, world[res])}?included={INCLUDE[res]}").json()
    assert fetched.get("included"), fetched
    resp = api.patch(url(res, world[res]), fetched)
    assert resp.status_code == 200, resp.text
    assert stable(resp.json()["data"]["attributes"]) == stable(fetched["data"]["attributes"])


@pytest.mark.parametrize("res", RESOURCES)
def test_delete_answers_204_then_the_record_is_gone(api, world, res):
    target = api.create(res, **new_attributes(res, world))
    resp = api.delete(url(res, target))
    assert resp.status_code == 204
    assert resp.content == b""
    assert api.get(url(res, target)).status_code == 404
    assert target["id"] not in ids(api.get(f"/{res}"))
    assert world[res]["id"] in ids(api.get(f"/{res}"))
    assert api.delete(url(res, target)).status_code == 404


def test_members_get_integer_ids_rendered_as_strings(api, world):
    member = api.create("project_members", **new_attributes("project_members", world))
    assert member["id"].isdigit()
    assert int(member["id"]) != int(world["project_members"]["id"])


# ------------------------------------------------------------------------ parents, types and ids

@pytest.mark.parametrize("res", CHILDREN)
def test_parent_may_be_given_as_a_relationship(api, world, res):
    attr, rel, parent_res = PARENT[res]
    attributes = new_attributes(res, world)
    parent_id = attributes.pop(attr)
    resp = api.post(f"/{res}", envelope(res, attributes,
                                        relationships={rel: link(parent_res, parent_id)}))
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["attributes"][attr] == parent_id
    assert data["relationships"][rel]["data"] == {"type": f"dataset:{parent_res}", "id": parent_id}


@pytest.mark.parametrize("res", CHILDREN)
def test_parent_as_attribute_and_agreeing_relationship_is_accepted(api, world, res):
    attr, rel, parent_res = PARENT[res]
    attributes = new_attributes(res, world)
    resp = api.post(f"/{res}", envelope(res, attributes,
                                        relationships={rel: link(parent_res, attributes[attr])}))
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"][attr] == attributes[attr]


@pytest.mark.parametrize("res", RESOURCES)
def test_bare_plural_type_is_accepted(api, world, res):
    resp = api.post(f"/{res}", envelope(res, new_attributes(res, world), type_=res))
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["type"] == f"dataset:{res}"
    name, value = CHANGE[res]
    resp = api.patch(url(res, world[res]), envelope(res, {name: value}, type_=res))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"][name] == value


@pytest.mark.parametrize("res", UUID_RESOURCES)
def test_client_supplied_uuid_is_used_and_a_taken_one_is_409(api, world, res):
    before = ids(api.get(f"/{res}"))
    rid = str(uuid.uuid4())
    resp = api.post(f"/{res}", envelope(res, new_attributes(res, world), rid=rid))
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["id"] == rid
    assert resp.headers["Location"] == f"/{res}/{rid}"
    assert api.get(f"/{res}/{rid}").status_code == 200

    again = api.post(f"/{res}", envelope(res, new_attributes(res, world), rid=world[res]["id"]))
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["source"] == {"pointer": "/data/id"}
    assert ids(api.get(f"/{res}")) == before | {rid}


@pytest.mark.parametrize("rid", ["12345", "01a22542-a5bb-76a2-bf71-b2bcd2d74c12"])
def test_client_supplied_member_id_is_403_and_later_creates_work(api, world, rid):
    """Member ids are integers the server assigns: a client id is refused (JSON:API 403) before
    anything is written, so it can never collide with the ids the server hands out later."""
    attributes = new_attributes("project_members", world)
    resp = api.post("/project_members", envelope("project_members", attributes, rid=rid))
    assert resp.status_code == 403, resp.text
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/id"}
    assert ids(api.get("/project_members")) == {world["project_members"]["id"]}
    later = api.post("/project_members", envelope("project_members", attributes))
    assert later.status_code == 201, later.text


@pytest.mark.parametrize("res, attr, other", [
    ("project_members", "project_id", "projects"),
    ("project_members", "account_id", None),
    ("datasets", "project_id", "projects"),
    ("datasets", "modality", None),
    ("entries", "dataset_id", "datasets"),
    ("annotations", "entry_id", "entries"),
    ("note_feeds", "entry_id", "entries"),
    ("note_feeds", "anchor_type", None),
    ("note_comments", "note_feed_id", "note_feeds"),
])
def test_create_only_attributes_are_ignored_on_update(api, world, res, attr, other):
    """Parents, account ids, modality and anchors are fixed once created."""
    if other is not None:  # a second record of the parent type to move to
        second = api.create(other, **new_attributes(other, world))["id"]
        value = second
    else:
        value = {"account_id": 999, "modality": "audio", "anchor_type": "entry"}[attr]
    before = api.get(url(res, world[res])).json()["data"]["attributes"]
    resp = api.patch(url(res, world[res]), envelope(res, {attr: value}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"][attr] == before[attr]
    assert api.get(url(res, world[res])).json()["data"]["attributes"][attr] == before[attr]


def test_entry_parent_relationship_is_ignored_on_update(api, world):
    other = api.create("datasets", **new_attributes("datasets", world))
    entry = world["entries"]
    resp = api.patch(url("entries", entry), envelope("entries", {"priority": 3},
                                                     relationships={"dataset": link("datasets",
                                                                                    other["id"])}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["dataset_id"] == world["datasets"]["id"]
    assert api.get(url("datasets", other)).json()["data"]["attributes"]["entries_total_count"] == 0


# ----------------------------------------------------------------- derived and owned attributes

def test_entry_project_id_comes_from_its_dataset(api, world):
    other_project = factories.project(api, "Other", 9)
    entry = api.create("entries", dataset_id=world["datasets"]["id"], resource="d.png",
                       project_id=other_project["id"])
    assert entry["attributes"]["project_id"] == world["projects"]["id"]
    assert entry["relationships"]["project"]["data"]["id"] == world["projects"]["id"]


def test_entry_read_only_attributes_are_ignored_on_create(api, world):
    entry = api.create("entries", dataset_id=world["datasets"]["id"], resource="ro.png",
                       status="completed", wf_step="done", assigned_to_id=5, submitted_by_id=5,
                       reviewed_by_id=5, error_message="boom")
    attrs = entry["attributes"]
    assert (attrs["status"], attrs["wf_step"]) == ("pending", "annotate")
    assert attrs["assigned_to_id"] is None and attrs["submitted_by_id"] is None
    assert attrs["reviewed_by_id"] is None and attrs["error_message"] is None
    assert attrs["priority"] == 0


def test_dataset_read_only_attributes_and_defaults(api, world):
    dataset = api.create("datasets", project_id=world["projects"]["id"], name="D", modality="text",
                         status="completed", progress=1, entries_total_count=99)
    attrs = dataset["attributes"]
    assert (attrs["status"], attrs["progress"], attrs["entries_total_count"]) == ("pending", 0, 0)
    assert attrs["labels"] == [] and attrs["labeling_configuration"] == {}
    assert attrs["workflow_configuration"] == {"type": "simple_review", "sample_rate": 1}


def test_annotation_project_and_dataset_come_from_the_entry(api, world):
    other_project = factories.project(api, "Other", 9)
    other_dataset = factories.dataset(api, other_project, "X", "text")
    annotation = api.create("annotations", entry_id=world["all_entries"][2]["id"],
                            dimensions={}, annotation={}, project_id=other_project["id"],
                            dataset_id=other_dataset["id"])
    attrs = annotation["attributes"]
    assert attrs["project_id"] == world["projects"]["id"]
    assert attrs["dataset_id"] == world["datasets"]["id"]
    assert attrs["metadata"] == {}
    assert annotation["relationships"]["dataset"]["data"]["id"] == world["datasets"]["id"]


def test_note_feed_on_an_entry_can_be_created_shown_and_listed(api, world):
    """The common case: a feed anchored on the entry, no annotation; derived attributes set."""
    resp = api.post("/note_feeds", envelope("note_feeds", {
        "entry_id": world["all_entries"][1]["id"], "content_md": "Hm", "status": "resolved"}))
    assert resp.status_code == 201, resp.text
    feed = resp.json()["data"]
    attrs = feed["attributes"]
    assert (attrs["project_id"], attrs["dataset_id"]) == (world["projects"]["id"],
                                                          world["datasets"]["id"])
    assert (attrs["anchor_type"], attrs["annotation_id"], attrs["status"]) == ("entry", None, "pending")
    assert attrs["edited_at"] is None
    assert api.get(url("note_feeds", feed)).status_code == 200
    assert feed["id"] in ids(api.get("/note_feeds"))


def test_note_feed_project_and_dataset_come_from_the_entry(api, world):
    other_project = factories.project(api, "Other", 9)
    feed = api.create("note_feeds", **new_attributes("note_feeds", world),
                      project_id=other_project["id"], dataset_id=str(uuid.uuid4()))
    attrs = feed["attributes"]
    assert (attrs["project_id"], attrs["dataset_id"]) == (world["projects"]["id"],
                                                          world["datasets"]["id"])
    assert feed["relationships"]["project"]["data"]["id"] == world["projects"]["id"]


@pytest.mark.parametrize("res", ["projects", "annotations", "note_feeds", "note_comments"])
def test_created_by_email_comes_from_the_token(client, api, world, res):
    maker = Api(client, token(account_id=8, email="maker@example.com"))
    attributes = {**new_attributes(res, world), "created_by_email": "forged@example.com"}
    created = maker.create(res, **attributes)
    assert created["attributes"]["created_by_email"] == "maker@example.com"
    name, value = CHANGE[res]
    resp = api.patch(url(res, created), envelope(res, {name: value,
                                                       "created_by_email": "other@example.com"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["created_by_email"] == "maker@example.com"


def test_member_invited_by_id_comes_from_the_token(client, api, world):
    inviter = Api(client, token(account_id=77, email="owner@example.com"))
    member = inviter.create("project_members", **{**new_attributes("project_members", world),
                                                  "invited_by_id": 5})
    assert member["attributes"]["invited_by_id"] == 77
    resp = api.patch(url("project_members", member),
                     envelope("project_members", {"invited_by_id": 1, "name": "Renamed"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["invited_by_id"] == 77
    assert resp.json()["data"]["attributes"]["name"] == "Renamed"


def test_member_can_be_disabled_and_enabled(api, world):
    member = world["project_members"]
    resp = api.patch(url("project_members", member),
                     envelope("project_members", {"disabled_at": "2026-01-02T03:04:05Z"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["disabled_at"].startswith("2026-01-02T03:04:05")
    resp = api.patch(url("project_members", member), envelope("project_members", {"disabled_at": None}))
    assert resp.json()["data"]["attributes"]["disabled_at"] is None


@pytest.mark.parametrize("res", ["note_feeds", "note_comments"])
def test_edited_at_is_set_when_content_md_changes_only(api, world, res):
    target = world[res]
    assert target["attributes"]["edited_at"] is None
    same = api.patch(url(res, target), envelope(res, {"content_md": target["attributes"]["content_md"]}))
    assert same.status_code == 200, same.text
    assert same.json()["data"]["attributes"]["edited_at"] is None

    edited = api.patch(url(res, target), envelope(res, {"content_md": "Changed", "edited_at": None}))
    assert edited.status_code == 200, edited.text
    edited_at = edited.json()["data"]["attributes"]["edited_at"]
    assert edited_at is not None and edited_at >= target["attributes"]["created_at"]

    again = api.patch(url(res, target), envelope(res, {"content_md": "Changed"}))
    assert again.json()["data"]["attributes"]["edited_at"] == edited_at


def test_note_feed_edited_at_untouched_by_other_changes(api, world):
    feed = world["note_feeds"]
    resp = api.patch(url("note_feeds", feed), envelope("note_feeds", {"position": {"t": 1.5}}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["position"] == {"t": 1.5}
    assert resp.json()["data"]["attributes"]["edited_at"] is None


# ------------------------------------------------------------------------------------ note feeds

def test_note_feed_on_an_annotation(api, world):
    annotation = world["annotations"]
    feed = api.create("note_feeds", entry_id=world["entries"]["id"], anchor_type="annotation",
                      annotation_id=annotation["id"], content_md="Box too small")
    assert feed["attributes"]["anchor_type"] == "annotation"
    assert feed["attributes"]["annotation_id"] == annotation["id"]
    assert feed["relationships"]["annotation"]["data"] == {"type": "dataset:annotations",
                                                           "id": annotation["id"]}


def test_note_feed_with_annotation_id_defaults_to_annotation_anchor(api, world):
    feed = api.create("note_feeds", entry_id=world["entries"]["id"],
                      annotation_id=world["annotations"]["id"], content_md="Box too small")
    assert feed["attributes"]["anchor_type"] == "annotation"


def test_note_feed_annotation_given_as_relationship(api, world):
    body = envelope("note_feeds", {"content_md": "Box", "anchor_type": "annotation"},
                    relationships={"entry": link("entries", world["entries"]["id"]),
                                   "annotation": link("annotations", world["annotations"]["id"])})
    resp = api.post("/note_feeds", body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"]["annotation_id"] == world["annotations"]["id"]


def test_note_feed_annotation_anchor_without_annotation_id_is_409(api, world):
    resp = api.post("/note_feeds", envelope("note_feeds", {
        "entry_id": world["entries"]["id"], "anchor_type": "annotation", "content_md": "Where?"}))
    assert resp.status_code == 409, resp.text
    assert resp.json()["errors"][0]["code"] == "anchor_mismatch"
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/attributes/annotation_id"}
    assert ids(api.get("/note_feeds")) == {world["note_feeds"]["id"]}


def test_note_feed_annotation_of_another_entry_is_422(api, world):
    other_entry = world["all_entries"][1]["id"]
    resp = api.post("/note_feeds", envelope("note_feeds", {
        "entry_id": other_entry, "anchor_type": "annotation",
        "annotation_id": world["annotations"]["id"], "content_md": "Mismatch"}))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/attributes/annotation_id"}


def test_note_feed_entry_anchor_with_annotation_id_is_409(api, world):
    resp = api.post("/note_feeds", envelope("note_feeds", {
        "entry_id": world["entries"]["id"], "anchor_type": "entry",
        "annotation_id": world["annotations"]["id"], "content_md": "Mixed"}))
    assert resp.status_code == 409, resp.text
    assert resp.json()["errors"][0]["code"] == "anchor_mismatch"
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/attributes/annotation_id"}


def test_note_feed_unknown_annotation_is_404(api, world):
    resp = api.post("/note_feeds", envelope("note_feeds", {
        "entry_id": world["entries"]["id"], "annotation_id": str(uuid.uuid4()), "content_md": "?"}))
    assert resp.status_code == 404, resp.text
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/attributes/annotation_id"}


@pytest.mark.parametrize("body", [None, {"data": {"type": "dataset:note_feeds"}}],
                         ids=["no-body", "empty-envelope"])
def test_resolve_note_feed_is_idempotent(api, world, body):
    feed = world["note_feeds"]
    resp = api.post(f"/note_feeds/{feed['id']}/resolve", body)
    assert resp.status_code == 200, resp.text
    resolved = resp.json()["data"]
    assert resolved["id"] == feed["id"]
    assert resolved["attributes"]["status"] == "resolved"
    assert resolved["attributes"]["content_md"] == feed["attributes"]["content_md"]
    again = api.post(f"/note_feeds/{feed['id']}/resolve", body)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == resolved
    assert again.headers["ETag"] == resp.headers["ETag"]
    assert api.get(url("note_feeds", feed)).json()["data"]["attributes"]["status"] == "resolved"


def test_resolve_changes_the_etag(api, world):
    feed = world["note_feeds"]
    before = api.get(url("note_feeds", feed)).headers["ETag"]
    resp = api.post(f"/note_feeds/{feed['id']}/resolve")
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] != before
    stale = api.patch(url("note_feeds", feed), envelope("note_feeds", {"content_md": "x"}),
                      headers={"If-Match": before})
    assert stale.status_code == 412


def test_resolve_unknown_note_feed_is_404(api, world):
    resp = api.post(f"/note_feeds/{uuid.uuid4()}/resolve")
    assert resp.status_code == 404, resp.text
    assert resp.json()["errors"][0]["status"] == "404"


def test_note_feed_status_cannot_be_patched(api, world):
    feed = world["note_feeds"]
    resp = api.patch(url("note_feeds", feed), envelope("note_feeds", {"status": "resolved"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["status"] == "pending"


# ------------------------------------------------------------------- cascade deletes and counters

def everything(world):
    return [(res, world[res]["id"]) for res in RESOURCES]


def test_deleting_a_project_deletes_everything_under_it(api, world):
    survivor = factories.project(api, "Keep", 7)
    kept_dataset = factories.dataset(api, survivor, "K", "text")
    kept_member = factories.member(api, survivor, 5, email="ann@example.com")
    assert api.delete(url("projects", world["projects"])).status_code == 204
    for res, rid in everything(world):
        assert api.get(url(res, rid)).status_code == 404, res
    for res in ("entries", "annotations", "note_feeds", "note_comments"):
        assert ids(api.get(f"/{res}")) == set(), res
    assert ids(api.get("/projects")) == {survivor["id"]}
    assert ids(api.get("/datasets")) == {kept_dataset["id"]}
    assert ids(api.get("/project_members")) == {kept_member["id"]}


def test_deleting_a_dataset_deletes_its_entries_annotations_and_notes(api, world):
    assert api.delete(url("datasets", world["datasets"])).status_code == 204
    for res, rid in everything(world)[3:]:
        assert api.get(url(res, rid)).status_code == 404, res
    assert api.get(url("projects", world["projects"])).status_code == 200
    assert api.get(url("project_members", world["project_members"])).status_code == 200


def test_deleting_an_entry_deletes_its_annotations_and_notes(api, world):
    assert api.delete(url("entries", world["entries"])).status_code == 204
    for res, rid in everything(world)[3:]:
        assert api.get(url(res, rid)).status_code == 404, res
    assert ids(api.get("/entries")) == {e["id"] for e in world["all_entries"][1:]}


def test_deleting_an_annotation_deletes_the_notes_anchored_on_it(api, world):
    assert api.delete(url("annotations", world["annotations"])).status_code == 204
    assert api.get(url("note_feeds", world["note_feeds"])).status_code == 404
    assert api.get(url("note_comments", world["note_comments"])).status_code == 404
    assert api.get(url("entries", world["entries"])).status_code == 200


def test_deleting_a_note_feed_deletes_its_comments(api, world):
    assert api.delete(url("note_feeds", world["note_feeds"])).status_code == 204
    assert api.get(url("note_comments", world["note_comments"])).status_code == 404
    assert api.get(url("entries", world["entries"])).status_code == 200


def counts(api, dataset):
    attrs = api.get(url("datasets", dataset)).json()["data"]["attributes"]
    return attrs["entries_total_count"], attrs["entries_completed_count"], \
        attrs["entries_in_progress_count"], attrs["progress"], attrs["status"]


def test_entry_creates_and_deletes_keep_the_dataset_counters(api, world):
    dataset = world["datasets"]
    assert counts(api, dataset) == (3, 0, 0, 0, "pending")
    extra = factories.entry(api, dataset, "more.png")
    assert counts(api, dataset) == (4, 0, 0, 0, "pending")
    assert api.delete(url("entries", extra)).status_code == 204
    assert api.delete(url("entries", world["all_entries"][2])).status_code == 204
    assert counts(api, dataset) == (2, 0, 0, 0, "pending")


def test_counters_are_per_dataset(api, world):
    other = api.create("datasets", **new_attributes("datasets", world))
    factories.entry(api, other, "o.png")
    assert counts(api, other)[0] == 1
    assert counts(api, world["datasets"])[0] == 3


def test_failed_entry_create_leaves_the_counters(api, world):
    dataset = world["datasets"]
    resp = api.post("/entries", envelope("entries", {"dataset_id": dataset["id"],
                                                     "resource": "img-0.png"}))
    assert resp.status_code == 409, resp.text
    assert counts(api, dataset)[0] == 3
