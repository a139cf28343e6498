"""Every documented error status of the resource routes, with its JSON:API source (DESIGN §3)."""

import json
import uuid

import pytest

from tests import factories
from tests.conftest import MEDIA, Api, app_client, token
from tests.test_resources import (
    CHANGE,
    CHILDREN,
    PARENT,
    RESOURCES,
    envelope,
    ids,
    known,
    link,
    new_attributes,
    url,
)

MISSING_IDS = {res: str(uuid.uuid4()) for res in RESOURCES} | {"project_members": "999999"}


# ---------------------------------------------------------------------------------------- helpers

@pytest.fixture
def world(api, tree):
    return factories.one_of_each(api, tree)


def the_error(resp, status):
    """Assert ``resp`` is a JSON:API error document with ``status``; return its first error."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(MEDIA)
    errors = resp.json()["errors"]
    assert errors and all(e["status"] == str(status) for e in errors)
    assert "Traceback" not in resp.text
    return errors[0]


def source(resp, status):
    return the_error(resp, status).get("source")


def raw_post(api, path, content, content_type=MEDIA):
    return api.post(path, raw=content, headers={"Content-Type": content_type})


def project_body(**attributes):
    return envelope("projects", {"name": "P", "organization_id": 1, **attributes})


# ------------------------------------------------------------------------------------------- 401

BAD_TOKENS = {"missing": None, "garbage": "not-a-jwt", "expired": token(ttl=-60),
              "wrong-secret": token().rsplit(".", 1)[0] + ".c2lnbmF0dXJl"}


@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("method", ["index", "show", "create", "update", "delete"])
def test_requests_without_a_valid_token_are_401_and_change_nothing(client, api, world, kind, method):
    caller = Api(client, BAD_TOKENS[kind])
    project = url("projects", world["projects"])
    resp = {
        "index": lambda: caller.get("/projects"),
        "show": lambda: caller.get(project),
        "create": lambda: caller.post("/projects", project_body(name="Intruder")),
        "update": lambda: caller.patch(project, envelope("projects", {"name": "Hacked"})),
        "delete": lambda: caller.delete(project),
    }[method]()
    the_error(resp, 401)
    assert ids(api.get("/projects")) == {world["projects"]["id"]}
    assert api.get(project).json()["data"]["attributes"]["name"] == "Birds"


# ------------------------------------------------------------------------------------------- 400

@pytest.mark.parametrize("path", ["/projects", "/entries", "/projects/{id}"])
def test_unknown_query_parameter_is_400_naming_it(api, world, path):
    resp = api.get(path.format(id=world["projects"]["id"]) + "?colour=red")
    assert source(resp, 400) == {"parameter": "colour"}


def test_unknown_filter_is_400_naming_it(api, world):
    resp = api.get("/entries?filter[colour]=red")
    assert source(resp, 400) == {"parameter": "filter[colour]"}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("content", [b'{"data": {"type": "projects"', b"data=1", b"\x00"],
                         ids=["truncated", "form", "nul"])
def test_malformed_json_body_is_400(api, world, method, content):
    path = "/projects" if method == "POST" else url("projects", world["projects"])
    resp = api.request(method, path, raw=content, headers={"Content-Type": MEDIA})
    the_error(resp, 400)
    assert ids(api.get("/projects")) == {world["projects"]["id"]}


DEEP = '{"data": {"type": "projects", "attributes": {"name": "P", "organization_id": 1, ' \
       '"settings": ' + "[" * 5000 + "]" * 5000 + "}}}"


@pytest.mark.parametrize("content", [
    b'{"data": {"type": "projects", "attributes": {"name": "P", "organization_id": NaN}}}',
    b'{"data": {"type": "projects", "attributes": {"name": "P", "organization_id": 1e400}}}',
    b'{"data": {"type": "projects", "attributes": {"name": "P", "organization_id": -Infinity}}}',
    DEEP.encode(),
], ids=["nan", "beyond-double", "infinity", "nested-5000-deep"])
def test_json_that_is_not_strict_json_is_400(api, world, content):
    """Python's json module reads NaN, Infinity and 1e400 (as inf); they are not JSON numbers.
    Nesting far beyond any real document is refused before it can exhaust the stack."""
    resp = raw_post(api, "/projects", content)
    assert source(resp, 400) == {"pointer": ""}
    assert ids(api.get("/projects")) == {world["projects"]["id"]}


def test_unpaired_surrogate_is_422_pointing_at_it(api, world):
    content = b'{"data": {"type": "projects", "attributes": {"name": "bad \\ud800 text", ' \
              b'"organization_id": 1}}}'
    resp = raw_post(api, "/projects", content)
    assert source(resp, 422) == {"pointer": "/data/attributes/name"}
    assert ids(api.get("/projects")) == {world["projects"]["id"]}


def test_non_utf8_body_is_400(api, world):
    content = json.dumps(project_body(name="Caf\u00e9"), ensure_ascii=False).encode("latin-1")
    assert b"Caf\xe9" in content
    resp = raw_post(api, "/projects", content)
    the_error(resp, 400)
    assert ids(api.get("/projects")) == {world["projects"]["id"]}


def test_utf8_body_is_accepted(api):
    resp = raw_post(api, "/projects", json.dumps(project_body(name="Caf\u00e9"),
                                                 ensure_ascii=False).encode())
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"]["name"] == "Caf\u00e9"


# ------------------------------------------------------------------------------------------- 404

@pytest.mark.parametrize("res", RESOURCES)
def test_unknown_id_is_404_for_show_update_and_delete(api, world, res):
    path = url(res, MISSING_IDS[res])
    the_error(api.get(path), 404)
    name, value = CHANGE[res]
    the_error(api.patch(path, envelope(res, {name: value})), 404)
    the_error(api.delete(path), 404)


@pytest.mark.parametrize("res", ["projects", "project_members"])
def test_malformed_id_is_404(api, world, res):
    the_error(api.get(f"/{res}/not-an-id"), 404)


def test_unknown_route_is_404(api):
    the_error(api.get("/widgets"), 404)


@pytest.mark.parametrize("res", CHILDREN)
def test_missing_parent_attribute_is_404_pointing_at_it(api, world, res):
    attr, _, _ = PARENT[res]
    attributes = {**new_attributes(res, world), attr: str(uuid.uuid4())}
    resp = api.post(f"/{res}", envelope(res, attributes))
    assert source(resp, 404) == {"pointer": f"/data/attributes/{attr}"}
    assert ids(api.get(f"/{res}")) == known(world, res)


@pytest.mark.parametrize("res", CHILDREN)
def test_missing_parent_relationship_is_404_pointing_at_it(api, world, res):
    """The pointer names what the client sent: the relationship, not an attribute it never sent."""
    attr, rel, parent_res = PARENT[res]
    attributes = new_attributes(res, world)
    del attributes[attr]
    resp = api.post(f"/{res}", envelope(res, attributes,
                                        relationships={rel: link(parent_res, str(uuid.uuid4()))}))
    assert source(resp, 404)["pointer"].startswith(f"/data/relationships/{rel}")


# ------------------------------------------------------------------------------------------- 405

@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/projects", "GET, POST"),
    ("DELETE", "/projects", "GET, POST"),
    ("PATCH", "/entries", "GET, POST"),
    ("PUT", "/projects/{id}", "GET, PATCH, DELETE"),
    ("POST", "/projects/{id}", "GET, PATCH, DELETE"),
])
def test_wrong_method_is_405_with_allow(api, world, method, path, allow):
    resp = api.request(method, path.format(id=world["projects"]["id"]), project_body())
    the_error(resp, 405)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == set(allow.split(", "))


# ------------------------------------------------------------------------------------------- 406

@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/plain",
                                    f"{MEDIA}; ext=bulk"])
def test_unacceptable_accept_is_406(api, accept):
    resp = api.get("/projects", headers={"Accept": accept})
    the_error(resp, 406)


@pytest.mark.parametrize("accept", [MEDIA, "application/json", "*/*", "text/html, */*;q=0.1",
                                    f"{MEDIA}; ext=bulk, {MEDIA}"])
def test_acceptable_accept_is_200(api, accept):
    assert api.get("/projects", headers={"Accept": accept}).status_code == 200


# ------------------------------------------------------------------------------------------- 409

@pytest.mark.parametrize("res", RESOURCES)
@pytest.mark.parametrize("wrong", ["dataset:widgets", "widgets", "dataset:{other}", "{other}",
                                   "{singular}"])
def test_wrong_type_is_409_on_data_type(api, world, res, wrong):
    other = "datasets" if res != "datasets" else "entries"
    type_ = wrong.format(other=other, singular=res.rstrip("s"))
    resp = api.post(f"/{res}", envelope(res, new_attributes(res, world), type_=type_))
    assert source(resp, 409) == {"pointer": "/data/type"}
    name, value = CHANGE[res]
    resp = api.patch(url(res, world[res]), envelope(res, {name: value}, type_=type_))
    assert source(resp, 409) == {"pointer": "/data/type"}
    assert ids(api.get(f"/{res}")) == known(world, res)


@pytest.mark.parametrize("res", RESOURCES)
def test_patch_with_mismatching_data_id_is_409(api, world, res):
    other = api.create(res, **new_attributes(res, world))
    name, value = CHANGE[res]
    resp = api.patch(url(res, world[res]), envelope(res, {name: value}, rid=other["id"]))
    assert source(resp, 409) == {"pointer": "/data/id"}
    assert api.get(url(res, world[res])).json()["data"]["attributes"][name] != value
    assert api.get(url(res, other)).json()["data"]["attributes"][name] != value


def test_duplicate_entry_resource_in_a_dataset_is_409(api, world):
    dataset = world["datasets"]
    resp = api.post("/entries", envelope("entries", {"dataset_id": dataset["id"],
                                                     "resource": "img-1.png"}))
    the_error(resp, 409)
    other = api.create("datasets", **new_attributes("datasets", world))
    elsewhere = api.post("/entries", envelope("entries", {"dataset_id": other["id"],
                                                          "resource": "img-1.png"}))
    assert elsewhere.status_code == 201, elsewhere.text


def test_renaming_an_entry_to_a_taken_resource_is_409(api, world):
    entry = world["all_entries"][1]
    resp = api.patch(url("entries", entry), envelope("entries", {"resource": "img-0.png"}))
    the_error(resp, 409)
    assert api.get(url("entries", entry)).json()["data"]["attributes"]["resource"] == "img-1.png"


def test_duplicate_member_is_409(api, world):
    project = world["projects"]
    body = envelope("project_members", {"project_id": project["id"], "account_id": 5,
                                        "email": "again@example.com", "role": "reviewer"})
    the_error(api.post("/project_members", body), 409)
    assert ids(api.get("/project_members")) == {world["project_members"]["id"]}
    other = factories.project(api, "Other", 7)
    body["data"]["attributes"]["project_id"] = other["id"]
    assert api.post("/project_members", body).status_code == 201


# ------------------------------------------------------------------------------------------- 412

@pytest.mark.parametrize("res", RESOURCES)
def test_stale_if_match_is_412_and_current_one_succeeds(api, world, res):
    path = url(res, world[res])
    stale = api.get(path).headers["ETag"]
    name, value = CHANGE[res]
    first = api.patch(path, envelope(res, {name: value}), headers={"If-Match": stale})
    assert first.status_code == 200, first.text
    current = first.headers["ETag"]

    the_error(api.patch(path, envelope(res, {name: world[res]["attributes"][name]}),
                        headers={"If-Match": stale}), 412)
    the_error(api.delete(path, headers={"If-Match": stale}), 412)
    assert api.get(path).json()["data"]["attributes"][name] == value

    assert api.delete(path, headers={"If-Match": current}).status_code == 204
    assert api.get(path).status_code == 404


@pytest.mark.parametrize("res", RESOURCES)
def test_non_ascii_digits_in_if_match_are_412(api, world, res):
    """"²" is a digit to Python's str.isdigit() but no version number."""
    path = url(res, world[res])
    tag = f'"{world[res]["id"]}.'.encode() + b'\xb2"'  # "²" once read as latin-1
    the_error(api.delete(path, headers={"If-Match": tag}), 412)
    assert api.get(path).status_code == 200


@pytest.mark.parametrize("rid", ["%C2%B3", "%D9%A3", "99999999999999999999"],
                         ids=["superscript-three", "arabic-indic-three", "beyond-int64"])
def test_member_ids_that_are_not_ascii_integers_are_404(api, world, rid):
    for method in ("GET", "PATCH", "DELETE"):
        body = envelope("project_members", {"name": "x"}) if method == "PATCH" else None
        the_error(api.request(method, f"/project_members/{rid}", body), 404)


@pytest.mark.parametrize("if_match", ['"nonsense"', "W/\"{etag}\"", '"{other}"'],
                         ids=["garbage", "weak", "another-resource"])
def test_if_match_that_is_not_this_etag_is_412(api, world, if_match):
    path = url("entries", world["entries"])
    etag = api.get(path).headers["ETag"].strip('"')
    other = api.get(url("entries", world["all_entries"][1])).headers["ETag"].strip('"')
    header = if_match.format(etag=etag, other=other)
    the_error(api.patch(path, envelope("entries", {"priority": 9}), headers={"If-Match": header}), 412)
    the_error(api.delete(path, headers={"If-Match": header}), 412)
    assert api.get(path).json()["data"]["attributes"]["priority"] == 0


def test_if_match_star_and_lists_succeed(api, world):
    path = url("projects", world["projects"])
    resp = api.patch(path, envelope("projects", {"name": "Star"}), headers={"If-Match": "*"})
    assert resp.status_code == 200, resp.text
    current = resp.headers["ETag"]
    resp = api.patch(path, envelope("projects", {"name": "Listed"}),
                     headers={"If-Match": f'"stale.1", {current}'})
    assert resp.status_code == 200, resp.text
    assert api.delete(path, headers={"If-Match": "*"}).status_code == 204


# ------------------------------------------------------------------------------------------- 413

@pytest.fixture
def small_api(tmp_path):
    with app_client(tmp_path, max_body_bytes=1000) as client:
        yield Api(client, token())


def test_body_over_the_limit_is_413(small_api):
    resp = small_api.post("/projects", project_body(description="x" * 2000))
    the_error(resp, 413)
    assert ids(small_api.get("/projects")) == set()
    project = factories.project(small_api, "Small", 1, description="x" * 500)
    resp = small_api.patch(url("projects", project), envelope("projects", {"description": "y" * 2000}))
    the_error(resp, 413)
    shown = small_api.get(url("projects", project)).json()["data"]["attributes"]
    assert shown["description"] == "x" * 500


def test_body_over_the_limit_without_content_length_is_413(small_api):
    def chunks():
        for _ in range(5):
            yield b" " * 300
        yield json.dumps(project_body()).encode()

    resp = small_api.client.post("/projects", content=chunks(),
                                 headers=small_api.headers({"Content-Type": MEDIA}))
    the_error(resp, 413)
    assert ids(small_api.get("/projects")) == set()


# ------------------------------------------------------------------------------------------- 415

@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", f"{MEDIA}; ext=bulk",
    f"{MEDIA}; profile=x", f"{MEDIA}; charset=latin-1", "",
])
def test_unsupported_content_type_is_415(api, content_type):
    resp = raw_post(api, "/projects", json.dumps(project_body()).encode(), content_type)
    the_error(resp, 415)
    assert ids(api.get("/projects")) == set()


def test_unsupported_content_type_on_patch_is_415(api, world):
    resp = api.patch(url("projects", world["projects"]), envelope("projects", {"name": "X"}),
                     headers={"Content-Type": "text/plain"})
    the_error(resp, 415)


@pytest.mark.parametrize("content_type", [MEDIA, "application/json", f"{MEDIA}; charset=utf-8",
                                          "application/json; charset=UTF-8"])
def test_supported_content_types_are_accepted(api, content_type):
    resp = raw_post(api, "/projects", json.dumps(project_body()).encode(), content_type)
    assert resp.status_code == 201, resp.text


# ------------------------------------------------------------------------------------------- 422

REQUIRED = [("projects", "name"), ("projects", "organization_id"),
            ("project_members", "project_id"), ("project_members", "account_id"),
            ("project_members", "email"), ("project_members", "role"),
            ("datasets", "project_id"), ("datasets", "name"), ("datasets", "modality"),
            ("entries", "dataset_id"), ("entries", "resource"),
            ("annotations", "entry_id"), ("annotations", "dimensions"), ("annotations", "annotation"),
            ("note_feeds", "entry_id"), ("note_feeds", "content_md"),
            ("note_comments", "note_feed_id"), ("note_comments", "content_md")]


@pytest.mark.parametrize("res, attr", REQUIRED)
def test_missing_required_attribute_is_422_pointing_at_it(api, world, res, attr):
    attributes = new_attributes(res, world)
    del attributes[attr]
    resp = api.post(f"/{res}", envelope(res, attributes))
    assert source(resp, 422) == {"pointer": f"/data/attributes/{attr}"}
    assert ids(api.get(f"/{res}")) == known(world, res)


@pytest.mark.parametrize("res, attr", [("projects", "name"), ("projects", "organization_id"),
                                       ("project_members", "project_id"), ("entries", "resource"),
                                       ("annotations", "dimensions"), ("note_feeds", "content_md")])
def test_required_attribute_set_to_null_is_422(api, world, res, attr):
    resp = api.post(f"/{res}", envelope(res, {**new_attributes(res, world), attr: None}))
    assert source(resp, 422) == {"pointer": f"/data/attributes/{attr}"}


@pytest.mark.parametrize("res, attr", [("projects", "name"), ("entries", "resource"),
                                       ("note_feeds", "content_md"), ("note_comments", "content_md")])
@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_blank_required_text_is_422(api, world, res, attr, blank):
    resp = api.post(f"/{res}", envelope(res, {**new_attributes(res, world), attr: blank}))
    assert source(resp, 422) == {"pointer": f"/data/attributes/{attr}"}
    resp = api.patch(url(res, world[res]), envelope(res, {attr: blank}))
    assert source(resp, 422) == {"pointer": f"/data/attributes/{attr}"}


@pytest.mark.parametrize("res", RESOURCES)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_unknown_attribute_is_422_pointing_at_it(api, world, res, method):
    attributes = {**new_attributes(res, world), "colour": "red"}
    if method == "POST":
        resp = api.post(f"/{res}", envelope(res, attributes))
    else:
        resp = api.patch(url(res, world[res]), envelope(res, {"colour": "red"}))
    assert source(resp, 422) == {"pointer": "/data/attributes/colour"}


WRONG_TYPES = [("projects", "organization_id", "seven"), ("projects", "name", 7),
               ("projects", "description", ["x"]),
               ("project_members", "account_id", "x"), ("project_members", "role", "boss"),
               ("project_members", "email", "no-at-sign"), ("project_members", "disabled_at", "soon"),
               ("datasets", "labels", "bird"), ("datasets", "labels", [1]),
               ("datasets", "workflow_configuration", {"type": "simple_review", "sample_rate": 2}),
               ("entries", "priority", "high"), ("entries", "priority", 1.5),
               ("entries", "resource", {"url": "x"}),
               ("annotations", "dimensions", [1, 2]), ("annotations", "metadata", "m"),
               ("note_feeds", "position", 5), ("note_feeds", "anchor_type", "page"),
               ("note_comments", "content_md", 5)]


@pytest.mark.parametrize("res, attr, value", WRONG_TYPES)
def test_wrong_attribute_type_is_422_pointing_at_it(api, world, res, attr, value):
    """The pointer names the attribute, or the member inside it (``labels/0``)."""
    base = f"/data/attributes/{attr}"
    resp = api.post(f"/{res}", envelope(res, {**new_attributes(res, world), attr: value}))
    pointer = source(resp, 422)["pointer"]
    assert pointer == base or pointer.startswith(base + "/")
    resp = api.patch(url(res, world[res]), envelope(res, {attr: value}))
    pointer = source(resp, 422)["pointer"]
    assert pointer == base or pointer.startswith(base + "/")
    assert ids(api.get(f"/{res}")) == known(world, res)


@pytest.mark.parametrize("body, pointer", [
    ({}, "/data"),
    ({"data": []}, "/data"),
    ({"data": {"attributes": {"name": "P", "organization_id": 1}}}, "/data/type"),
    ({"data": {"type": "projects", "attributes": {"name": "P", "organization_id": 1}}, "meta2": 1},
     "/meta2"),
    ({"data": {"type": "projects", "attributes": "P"}}, "/data/attributes"),
], ids=["no-data", "array-data", "no-type", "unknown-top-level", "attributes-not-object"])
def test_malformed_envelope_is_422(api, body, pointer):
    resp = api.post("/projects", body)
    assert source(resp, 422) == {"pointer": pointer}


def test_derived_relationship_is_read_only_and_ignored(api, world):
    """Like read-only attributes, a derived relationship sent back is ignored: the entry's
    project always comes from its dataset."""
    other = factories.project(api, "Other", 1)
    body = envelope("entries", {"dataset_id": world["datasets"]["id"], "resource": "r.png"},
                    relationships={"project": link("projects", other["id"])})
    resp = api.post("/entries", body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["attributes"]["project_id"] == world["projects"]["id"]


def test_unknown_relationship_is_422(api, world):
    body = envelope("entries", {"dataset_id": world["datasets"]["id"], "resource": "r.png"},
                    relationships={"owner": link("projects", world["projects"]["id"])})
    resp = api.post("/entries", body)
    assert source(resp, 422)["pointer"].startswith("/data/relationships")


def test_a_fetched_document_can_be_sent_back_as_an_update(api, world):
    fetched = api.get(f"/entries/{world['entries']['id']}").json()
    fetched["data"]["attributes"]["priority"] = 7
    resp = api.patch(f"/entries/{world['entries']['id']}", fetched)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["priority"] == 7


def test_missing_parent_given_as_relationship_points_at_it(api, world):
    body = envelope("entries", {"resource": "r.png"},
                    relationships={"dataset": link("datasets", "01a22542-a5bb-76a2-bf71-b2bcd2d74c12")})
    resp = api.post("/entries", body)
    assert source(resp, 404) == {"pointer": "/data/relationships/dataset"}


def test_parent_attribute_and_relationship_that_disagree_are_409(api, world):
    """The schema cannot say that two members must be equal: naming two parents is a conflict."""
    other = api.create("datasets", **new_attributes("datasets", world))
    body = envelope("entries", {"dataset_id": world["datasets"]["id"], "resource": "r.png"},
                    relationships={"dataset": link("datasets", other["id"])})
    resp = api.post("/entries", body)
    assert source(resp, 409)["pointer"].startswith("/data/relationships/dataset")
    assert resp.json()["errors"][0]["code"] == "parent_mismatch"
    assert ids(api.get("/entries")) == {e["id"] for e in world["all_entries"]}
