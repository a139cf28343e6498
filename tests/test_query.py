"""Index and show query parameters over HTTP (DESIGN §3): filters and their operators, typed values,
sorting, paging and links, counts, sparse fieldsets and includes, on a small data set."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from dataset_api.models import Dataset
from tests import factories
from tests.conftest import Api, app_client, token

# (resource, priority, job_id) of the entries of the "Photos" dataset, in creation order.
PHOTO_ENTRIES = [
    ("Cat_01.PNG", 0, None),
    ("cat%01.png", 5, "job-a"),
    ("dog\\01.jpg", 5, "job-b"),
    ("catX01.png", 10, None),
    ("x,y.png", -3, "job-a"),
]
CLIP_ENTRY = "clip.mp4"  # the one entry of the "Clips" dataset (priority 1, no job)
ALL_ENTRIES = {name for name, _, _ in PHOTO_ENTRIES} | {CLIP_ENTRY}

LABEL_ATTRIBUTE = {"dataset:entries": "resource", "dataset:datasets": "name", "dataset:projects": "name",
                   "dataset:project_members": "email"}


def label(obj):
    """A readable name for a resource object (annotations carry theirs in ``annotation.label``)."""
    if obj["type"] == "dataset:annotations":
        return obj["attributes"]["annotation"]["label"]
    return obj["attributes"][LABEL_ATTRIBUTE[obj["type"]]]


def url(path, *pairs):
    """``path`` with the query ``pairs`` percent-encoded (brackets too, as browsers do not)."""
    return f"{path}?{urlencode(pairs)}" if pairs else path


def ok(api, path, *pairs):
    """GET and return the JSON:API document, asserting 200."""
    resp = api.get(url(path, *pairs))
    assert resp.status_code == 200, resp.text
    return resp.json()


def found(api, path, *pairs):
    """The set of labels of the primary data."""
    return {label(obj) for obj in ok(api, path, *pairs)["data"]}


def listed(api, path, *pairs):
    """The labels of the primary data, in order."""
    return [label(obj) for obj in ok(api, path, *pairs)["data"]]


def bad(api, path, *pairs, parameter=None):
    """GET, assert a JSON:API 400 and return its first error (naming ``parameter`` if given)."""
    resp = api.get(url(path, *pairs))
    assert resp.status_code == 400, resp.text
    error = resp.json()["errors"][0]
    assert error["status"] == "400"
    if parameter is not None:
        assert error.get("source") == {"parameter": parameter}, error
    return error


def query_of(link):
    return parse_qsl(urlsplit(link).query, keep_blank_values=True)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One app and database for the whole module: the tests below only read the shared data set
    (the few that write clean up after themselves), so it is built once."""
    with app_client(tmp_path_factory.mktemp("query")) as client:
        yield Api(client, token())


@pytest.fixture(scope="module")
def world(api):
    """Three projects (organizations 7, 8, 9), three datasets, six entries, three annotations
    and four project members."""
    birds = factories.project(api, "Birds", 7)
    fish = factories.project(api, "Fish", 8)
    trees = factories.project(api, "Trees", 9)
    photos = factories.dataset(api, birds, "Photos", "image", labels=["bird", "sky"])
    clips = factories.dataset(api, birds, "Clips", "video", labels=["bird"])
    sounds = factories.dataset(api, fish, "Sounds", "audio")
    entries = {resource: factories.entry(api, photos, resource, priority=priority, job_id=job_id)
               for resource, priority, job_id in PHOTO_ENTRIES}
    entries[CLIP_ENTRY] = factories.entry(api, clips, CLIP_ENTRY, priority=1)
    annotations = {
        "a1": factories.annotation(api, entries["Cat_01.PNG"], "a1", dimensions={"x": 1, "y": 2},
                                   metadata={"tool": "box", "score": 1}),
        "a2": factories.annotation(api, entries["Cat_01.PNG"], "a2", metadata={"tool": "polygon"}),
        "a3": factories.annotation(api, entries["cat%01.png"], "a3", dimensions={"x": 3}),
    }
    members = {
        "ann@example.com": factories.member(api, birds, 11, "annotator", "ann@example.com"),
        "bob@example.com": factories.member(api, birds, 12, "reviewer", "bob@example.com",
                                            disabled_at="2026-01-01T00:00:00Z"),
        "cid@example.com": factories.member(api, fish, 13, "annotator", "cid@example.com"),
        "dan@example.com": factories.member(api, trees, 14, "project_owner", "dan@example.com"),
    }
    # progress is read-only and moved by the workflow only: give the datasets distinct values
    for dataset, value in ((photos, 0.25), (clips, 0.5), (sounds, 1.0)):
        factories.stored(Dataset, dataset, progress=value)
    return SimpleNamespace(projects={"Birds": birds, "Fish": fish, "Trees": trees},
                           datasets={"Photos": photos, "Clips": clips, "Sounds": sounds},
                           entries=entries, annotations=annotations, members=members)


@pytest.fixture
def scratch(api, world):
    """A project with an empty dataset for tests that add entries; deleted (with them) afterwards."""
    project = factories.project(api, "Scratch", 99)
    dataset = factories.dataset(api, project, "Scratch", "text")
    yield dataset
    assert api.delete(f"/projects/{project['id']}").status_code == 204


# --- string attributes -------------------------------------------------------------------------

@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[resource]", "catX01.png")], {"catX01.png"}),
    # the plain form takes the value whole: no comma splitting
    ([("filter[resource]", "x,y.png")], {"x,y.png"}),
    ([("filter[resource__eq]", "catX01.png")], {"catX01.png"}),
    ([("filter[resource__neq]", "catX01.png")], ALL_ENTRIES - {"catX01.png"}),
    ([("filter[resource__in]", "catX01.png,clip.mp4,nope")], {"catX01.png", "clip.mp4"}),
    ([("filter[resource__in][]", "catX01.png"), ("filter[resource__in][]", "clip.mp4")],
     {"catX01.png", "clip.mp4"}),
    ([("filter[resource][]", "catX01.png"), ("filter[resource][]", "clip.mp4")],
     {"catX01.png", "clip.mp4"}),
    ([("filter[resource][]", "x,y.png")], set()),  # list items are comma-joined, then split
    # match: case-insensitive substring
    ([("filter[resource__match]", "CAT")], {"Cat_01.PNG", "cat%01.png", "catX01.png"}),
    ([("filter[resource__match]", "01.p")], {"Cat_01.PNG", "cat%01.png", "catX01.png"}),
    # ... where %, _ and \ are literal, not wildcards
    ([("filter[resource__match]", "t_0")], {"Cat_01.PNG"}),
    ([("filter[resource__match]", "t%0")], {"cat%01.png"}),
    ([("filter[resource__match]", "%")], {"cat%01.png"}),
    ([("filter[resource__match]", "_")], {"Cat_01.PNG"}),
    ([("filter[resource__match]", "g\\0")], {"dog\\01.jpg"}),
    ([("filter[resource__match]", "\\")], {"dog\\01.jpg"}),
    ([("filter[resource__prefix]", "CAT")], {"Cat_01.PNG", "cat%01.png", "catX01.png"}),
    ([("filter[resource__prefix]", "cat_")], {"Cat_01.PNG"}),
    ([("filter[resource__prefix]", "cat%")], {"cat%01.png"}),
    ([("filter[resource__prefix]", "01")], set()),
    ([("filter[resource__suffix]", ".PNG")], {"Cat_01.PNG", "cat%01.png", "catX01.png", "x,y.png"}),
    ([("filter[resource__suffix]", "\\01.JPG")], {"dog\\01.jpg"}),
    ([("filter[resource__suffix]", "_01.png")], {"Cat_01.PNG"}),
    ([("filter[resource__suffix]", "cat")], set()),
    ([("filter[resource__exists]", "true")], ALL_ENTRIES),
    ([("filter[resource__exists]", "false")], set()),
    # nullable string
    ([("filter[job_id__exists]", "true")], {"cat%01.png", "dog\\01.jpg", "x,y.png"}),
    ([("filter[job_id__exists]", "1")], {"cat%01.png", "dog\\01.jpg", "x,y.png"}),
    ([("filter[job_id__exists]", "false")], {"Cat_01.PNG", "catX01.png", "clip.mp4"}),
    ([("filter[job_id__exists]", "no")], {"Cat_01.PNG", "catX01.png", "clip.mp4"}),
    ([("filter[job_id]", "job-a")], {"cat%01.png", "x,y.png"}),
    # neq also keeps the rows where the attribute is null
    ([("filter[job_id__neq]", "job-a")], {"dog\\01.jpg", "Cat_01.PNG", "catX01.png", "clip.mp4"}),
    # filters combine with AND
    ([("filter[job_id]", "job-a"), ("filter[resource__match]", "cat")], {"cat%01.png"}),
    ([("filter[resource__match]", "cat"), ("filter[priority__gte]", "5")], {"cat%01.png", "catX01.png"}),
])
def test_string_filters(api, world, pairs, expected):
    assert found(api, "/entries", *pairs) == expected


def test_match_is_case_insensitive_beyond_ascii(api, scratch):
    factories.entry(api, scratch, "Élan.png")
    assert found(api, "/entries", ("filter[resource__match]", "élan")) == {"Élan.png"}
    assert found(api, "/entries", ("filter[resource__prefix]", "ÉLAN")) == {"Élan.png"}


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[dataset_id]", "Photos")], ALL_ENTRIES - {CLIP_ENTRY}),
    ([("filter[dataset_id__in]", "Photos,Clips")], ALL_ENTRIES),
    ([("filter[dataset_id__neq]", "Photos")], {CLIP_ENTRY}),
])
def test_id_filters(api, world, pairs, expected):
    pairs = [(k, ",".join(world.datasets[n]["id"] for n in v.split(","))) for k, v in pairs]
    assert found(api, "/entries", *pairs) == expected


def test_derived_project_id_filter(api, world):
    birds = world.projects["Birds"]["id"]
    assert found(api, "/entries", ("filter[project_id]", birds)) == ALL_ENTRIES
    assert found(api, "/entries", ("filter[project_id]", world.projects["Fish"]["id"])) == set()


def test_filter_by_id(api, world):
    entry = world.entries["catX01.png"]
    assert found(api, "/entries", ("filter[id]", entry["id"])) == {"catX01.png"}
    ann = world.members["ann@example.com"]["id"]
    assert found(api, "/project_members", ("filter[id]", ann)) == {"ann@example.com"}
    assert found(api, "/project_members", ("filter[id__gt]", ann)) == {
        "bob@example.com", "cid@example.com", "dan@example.com"}


# --- integer and number attributes -------------------------------------------------------------

@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[priority]", "5")], {"cat%01.png", "dog\\01.jpg"}),
    ([("filter[priority]", "-3")], {"x,y.png"}),
    ([("filter[priority__eq]", "10")], {"catX01.png"}),
    ([("filter[priority__neq]", "5")], {"Cat_01.PNG", "catX01.png", "x,y.png", "clip.mp4"}),
    ([("filter[priority__in]", "0,10,99")], {"Cat_01.PNG", "catX01.png"}),
    ([("filter[priority__in][]", "0"), ("filter[priority__in][]", "-3")], {"Cat_01.PNG", "x,y.png"}),
    ([("filter[priority][]", "1"), ("filter[priority][]", "10")], {"clip.mp4", "catX01.png"}),
    ([("filter[priority__lt]", "1")], {"Cat_01.PNG", "x,y.png"}),
    ([("filter[priority__lte]", "1")], {"Cat_01.PNG", "x,y.png", "clip.mp4"}),
    ([("filter[priority__gt]", "5")], {"catX01.png"}),
    ([("filter[priority__gte]", "5")], {"cat%01.png", "dog\\01.jpg", "catX01.png"}),
    ([("filter[priority__gt]", "0"), ("filter[priority__lt]", "10")],
     {"clip.mp4", "cat%01.png", "dog\\01.jpg"}),
    ([("filter[priority__exists]", "true")], ALL_ENTRIES),
])
def test_integer_filters(api, world, pairs, expected):
    assert found(api, "/entries", *pairs) == expected


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[entries_total_count]", "5")], {"Photos"}),
    ([("filter[entries_total_count__gte]", "1")], {"Photos", "Clips"}),
    ([("filter[entries_total_count__lt]", "1")], {"Sounds"}),
])
def test_counter_filters(api, world, pairs, expected):
    assert found(api, "/datasets", *pairs) == expected


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[progress]", "0.25")], {"Photos"}),
    ([("filter[progress]", "1")], {"Sounds"}),
    ([("filter[progress__eq]", "0.5")], {"Clips"}),
    ([("filter[progress__neq]", "0.5")], {"Photos", "Sounds"}),
    ([("filter[progress__in]", "0.25,1")], {"Photos", "Sounds"}),
    ([("filter[progress__in][]", "0.5"), ("filter[progress__in][]", "0.75")], {"Clips"}),
    ([("filter[progress__lt]", "0.5")], {"Photos"}),
    ([("filter[progress__lte]", "0.5")], {"Photos", "Clips"}),
    ([("filter[progress__gt]", "0.3")], {"Clips", "Sounds"}),
    ([("filter[progress__gte]", "0.5")], {"Clips", "Sounds"}),
    ([("filter[progress__gt]", "1")], set()),
])
def test_number_filters(api, world, pairs, expected):
    assert found(api, "/datasets", *pairs) == expected


def test_progress_as_rendered(api, world):
    doc = ok(api, "/datasets", ("sort", "progress"))
    assert [(label(d), d["attributes"]["progress"]) for d in doc["data"]] == [
        ("Photos", 0.25), ("Clips", 0.5), ("Sounds", 1.0)]


# --- timestamps --------------------------------------------------------------------------------

def shifted(rendered, hours, minutes=0):
    """The same instant as ``rendered`` (…Z), written with a UTC offset of hours:minutes."""
    zone = timezone(timedelta(hours=hours, minutes=minutes))
    return datetime.fromisoformat(rendered.replace("Z", "+00:00")).astimezone(zone).isoformat()


@pytest.fixture
def stamps(api, world):
    """created_at of the Photos entries, in creation order (strictly increasing)."""
    doc = ok(api, "/entries", ("filter[dataset_id]", world.datasets["Photos"]["id"]), ("sort", "created_at"))
    rows = [(label(d), d["attributes"]["created_at"]) for d in doc["data"]]
    assert [name for name, _ in rows] == [name for name, _, _ in PHOTO_ENTRIES]
    assert len({ts for _, ts in rows}) == len(rows)
    return rows


@pytest.mark.parametrize("spell", [
    pytest.param(lambda ts: ts, id="Z"),
    pytest.param(lambda ts: ts.replace("Z", "+00:00"), id="+00:00"),
    pytest.param(lambda ts: shifted(ts, 5, 30), id="+05:30"),
    pytest.param(lambda ts: shifted(ts, -8), id="-08:00"),
])
def test_timestamp_filters(api, world, stamps, spell):
    photos = ("filter[dataset_id]", world.datasets["Photos"]["id"])
    names = [name for name, _ in stamps]
    middle = spell(stamps[2][1])

    def names_for(op):
        return found(api, "/entries", photos, (f"filter[created_at{op}]", middle))

    assert names_for("") == {names[2]}
    assert names_for("__eq") == {names[2]}
    assert names_for("__neq") == set(names) - {names[2]}
    assert names_for("__gte") == set(names[2:])
    assert names_for("__gt") == set(names[3:])
    assert names_for("__lte") == set(names[:3])
    assert names_for("__lt") == set(names[:2])


def test_timestamp_in_and_range(api, world, stamps):
    (first, t0), _, (third, t2), _, (last, t4) = stamps
    assert found(api, "/entries", ("filter[created_at__in]", f"{t0},{shifted(t4, 2)}")) == {first, last}
    assert found(api, "/entries", ("filter[created_at__gt]", t0), ("filter[created_at__lt]", t4)) == {
        name for name, _ in stamps[1:4]}
    assert found(api, "/entries", ("filter[updated_at__gte]", t2),
                 ("filter[dataset_id]", world.datasets["Photos"]["id"])) >= {third, last}


def test_nullable_timestamp(api, world):
    assert found(api, "/project_members", ("filter[disabled_at__exists]", "true")) == {"bob@example.com"}
    assert found(api, "/project_members", ("filter[disabled_at__lt]", "2026-01-01T00:00:01+00:00")) == {
        "bob@example.com"}
    assert found(api, "/project_members", ("filter[disabled_at]", "2026-01-01T01:00:00+01:00")) == {
        "bob@example.com"}


# --- JSON attributes ---------------------------------------------------------------------------

@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[metadata]", '{"tool":"box"}')], {"a1"}),
    ([("filter[metadata]", '{"tool": "box", "score": 1}')], {"a1"}),
    ([("filter[metadata]", '{"tool":"box","score":2}')], set()),
    ([("filter[metadata]", '{"tool":"polygon"}')], {"a2"}),
    ([("filter[metadata]", '{"tool":"BOX"}')], set()),
    ([("filter[metadata]", '{"other":"box"}')], set()),
    ([("filter[metadata]", "{}")], {"a1", "a2", "a3"}),
    ([("filter[dimensions]", '{"x":1}')], {"a1", "a2"}),
    ([("filter[dimensions]", '{"x":1,"y":2}')], {"a1"}),
    ([("filter[dimensions]", '{"x":"1"}')], set()),  # JSON-typed: the string "1" is not 1
    ([("filter[annotation]", '{"label":"a3"}')], {"a3"}),
    ([("filter[metadata__exists]", "true")], {"a1", "a2", "a3"}),
])
def test_json_containment_filters(api, world, pairs, expected):
    assert found(api, "/annotations", *pairs) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("bird", {"Photos", "Clips"}),
    ("sky", {"Photos"}),
    ('["bird","sky"]', {"Photos"}),
    ('["sky","bird"]', {"Photos"}),
    ("cat", set()),
    ("[]", {"Photos", "Clips", "Sounds"}),
])
def test_labels_filter(api, world, value, expected):
    assert found(api, "/datasets", ("filter[labels]", value)) == expected


# --- resource-specific filters -----------------------------------------------------------------

@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[assigned]", "false")], ALL_ENTRIES),
    ([("filter[assigned]", "f")], ALL_ENTRIES),
    ([("filter[assigned]", "true")], set()),
    ([("filter[assigned]", "yes")], set()),
    ([("filter[participated]", "1")], set()),
    ([("filter[participated]", "11")], set()),
    ([("filter[assigned_to_id__exists]", "false")], ALL_ENTRIES),
    ([("filter[wf_step]", "annotate")], ALL_ENTRIES),
    ([("filter[status__in]", "pending,completed")], ALL_ENTRIES),
    ([("filter[status]", "completed")], set()),
])
def test_workflow_filters_before_any_workflow(api, world, pairs, expected):
    assert found(api, "/entries", *pairs) == expected


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("filter[enabled]", "true")], {"ann@example.com", "cid@example.com", "dan@example.com"}),
    ([("filter[enabled]", "false")], {"bob@example.com"}),
    ([("filter[enabled]", "0")], {"bob@example.com"}),
    ([("filter[organization_id]", "9")], {"dan@example.com"}),
    ([("filter[organization_id__in]", "7,8")], {"ann@example.com", "bob@example.com", "cid@example.com"}),
    ([("filter[organization_id__in]", "8")], {"cid@example.com"}),
    ([("filter[organization_id__in]", "1,2")], set()),
    ([("filter[organization_id__in][]", "7"), ("filter[organization_id__in][]", "9")],
     {"ann@example.com", "bob@example.com", "dan@example.com"}),
    ([("filter[organization_id][]", "8"), ("filter[organization_id][]", "9")],
     {"cid@example.com", "dan@example.com"}),
    ([("filter[organization_id__in]", "7"), ("filter[enabled]", "true")], {"ann@example.com"}),
    ([("filter[role]", "annotator")], {"ann@example.com", "cid@example.com"}),
    ([("filter[account_id__gte]", "13")], {"cid@example.com", "dan@example.com"}),
])
def test_project_member_filters(api, world, pairs, expected):
    assert found(api, "/project_members", *pairs) == expected


def test_enabled_follows_disabled_at(api, scratch):
    member = factories.member(api, scratch["attributes"]["project_id"], 21, email="eve@example.com")
    scratch_members = ("filter[organization_id]", "99")
    eve = {"eve@example.com"}

    def disable(value):
        resp = api.patch(f"/project_members/{member['id']}", {"data": {
            "type": "dataset:project_members", "attributes": {"disabled_at": value}}})
        assert resp.status_code == 200, resp.text

    assert found(api, "/project_members", scratch_members, ("filter[enabled]", "true")) == eve
    disable("2026-02-01T00:00:00Z")
    assert found(api, "/project_members", scratch_members, ("filter[enabled]", "true")) == set()
    assert found(api, "/project_members", scratch_members, ("filter[enabled]", "false")) == eve
    disable(None)
    assert found(api, "/project_members", scratch_members, ("filter[enabled]", "false")) == set()


@pytest.mark.parametrize(("path", "pairs", "expected"), [
    ("/projects", [("filter[organization_id__in]", "7,9")], {"Birds", "Trees"}),
    ("/projects", [("filter[name__prefix]", "b")], {"Birds"}),
    ("/projects", [("filter[description__exists]", "false")], {"Birds", "Fish", "Trees"}),
    ("/datasets", [("filter[modality__in]", "image,audio")], {"Photos", "Sounds"}),
    ("/datasets", [("filter[name__suffix]", "S")], {"Photos", "Clips", "Sounds"}),
    ("/datasets", [("filter[status]", "pending")], {"Photos", "Clips", "Sounds"}),
])
def test_filters_on_other_resources(api, world, path, pairs, expected):
    assert found(api, path, *pairs) == expected


# --- values are typed; unknown names are refused -----------------------------------------------

@pytest.mark.parametrize(("path", "pairs", "parameter"), [
    ("/entries", [("filter[priority]", "abc")], "filter[priority]"),
    ("/entries", [("filter[priority]", "1.5")], "filter[priority]"),
    ("/entries", [("filter[priority__gt]", "ten")], "filter[priority__gt]"),
    ("/entries", [("filter[priority__in]", "1,abc")], "filter[priority__in]"),
    ("/entries", [("filter[participated]", "someone")], "filter[participated]"),
    ("/entries", [("filter[assigned]", "maybe")], "filter[assigned]"),
    ("/entries", [("filter[job_id__exists]", "maybe")], "filter[job_id__exists]"),
    ("/entries", [("filter[created_at__gte]", "yesterday")], "filter[created_at__gte]"),
    ("/entries", [("filter[created_at__lt]", "2026-13-01T00:00:00Z")], "filter[created_at__lt]"),
    ("/entries", [("filter[created_at]", "2026-02-30T00:00:00Z")], "filter[created_at]"),
    ("/datasets", [("filter[progress__lt]", "half")], "filter[progress__lt]"),
    ("/annotations", [("filter[metadata]", "tool=box")], "filter[metadata]"),
    ("/annotations", [("filter[metadata]", '["box"]')], "filter[metadata]"),
    ("/project_members", [("filter[enabled]", "sometimes")], "filter[enabled]"),
    ("/project_members", [("filter[organization_id__in]", "7,x")], "filter[organization_id__in]"),
    # unknown filters and operators that do not fit the attribute
    ("/entries", [("filter[colour]", "red")], "filter[colour]"),
    ("/entries", [("filter[priority__match]", "1")], "filter[priority__match]"),
    ("/entries", [("filter[resource__lt]", "b")], "filter[resource__lt]"),
    ("/entries", [("filter[resource__like]", "b")], "filter[resource__like]"),
    ("/entries", [("filter[participated__in]", "1,2")], "filter[participated__in]"),
    ("/annotations", [("filter[metadata__eq]", "{}")], "filter[metadata__eq]"),
    ("/datasets", [("filter[enabled]", "true")], "filter[enabled]"),
    # sorting, including, fields, paging
    ("/entries", [("sort", "colour")], "sort"),
    ("/entries", [("sort", "-priority,colour")], "sort"),
    ("/datasets", [("sort", "labels")], "sort"),
    ("/entries", [("sort", "")], "sort"),
    ("/entries", [("included", "owner")], "included"),
    ("/entries", [("include", "owner")], "include"),
    ("/entries", [("included[]", "dataset"), ("included[]", "owner")], "included"),
    ("/entries", [("included", "annotations.entry")], "included"),
    ("/datasets", [("include", "annotations")], "include"),
    ("/entries", [("fields[dataset:entries]", "resource,colour")], "fields[dataset:entries]"),
    ("/entries", [("fields[dataset:entries][]", "colour")], "fields[dataset:entries]"),
    ("/entries", [("fields", "colour")], "fields"),
    ("/entries", [("fields[dataset:datasets]", "resource")], "fields[dataset:datasets]"),
    ("/entries", [("fields[dataset:colours]", "id")], "fields[dataset:colours]"),
    ("/entries", [("page[size]", "0")], "page[size]"),
    ("/entries", [("page[size]", "1001")], "page[size]"),
    ("/entries", [("page[size]", "-1")], "page[size]"),
    ("/entries", [("page[size]", "ten")], "page[size]"),
    ("/entries", [("page[number]", "0")], "page[number]"),
    ("/entries", [("page[number]", "-2")], "page[number]"),
    ("/entries", [("page[number]", "1.5")], "page[number]"),
    ("/entries", [("count", "maybe")], "count"),
    ("/entries", [("colour", "red")], "colour"),
    ("/entries", [("page[offset]", "1")], "page[offset]"),
])
def test_bad_query_is_400_naming_the_parameter(api, world, path, pairs, parameter):
    bad(api, path, *pairs, parameter=parameter)


def test_bad_item_in_list_form_is_400(api, world):
    error = bad(api, "/entries", ("filter[priority][]", "1"), ("filter[priority][]", "x"))
    assert error["source"]["parameter"].startswith("filter[priority")


@pytest.mark.parametrize(("path", "key", "value"), [
    pytest.param("/annotations", "filter[metadata]", '{"a":' + "[" * 1500 + "]" * 1500 + "}",
                 id="deep-object"),
    pytest.param("/datasets", "filter[labels]", "[" * 2000 + "]" * 2000, id="deep-array"),
    pytest.param("/annotations", "filter[metadata]", '{"score":NaN}', id="NaN"),
    pytest.param("/annotations", "filter[metadata]", '{"score":-Infinity}', id="Infinity"),
    pytest.param("/annotations", "filter[dimensions]", '{"x":1e400}', id="1e400"),
    pytest.param("/annotations", "filter[metadata]", '{"tool":"\\u0000"}', id="escaped-NUL-value"),
    pytest.param("/annotations", "filter[dimensions]", '{"\\u0000":1}', id="escaped-NUL-key"),
    pytest.param("/datasets", "filter[labels]", '["\\u0000"]', id="escaped-NUL-label"),
    pytest.param("/annotations", "filter[metadata]", '{"tool":"\\ud800"}', id="lone-surrogate"),
])
def test_odd_json_filter_values_never_500(api, world, path, key, value):
    """Whatever JSON a client puts in a filter is refused (400 naming it) or matches nothing."""
    resp = api.get(url(path, (key, value)))
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert resp.json()["errors"][0]["source"] == {"parameter": key}
    else:
        assert resp.json()["data"] == []


@pytest.mark.parametrize("raw", [
    "page[size][x]=1",
    "filter[priority][x]=1",
    "fields[dataset:entries][][]=resource",
    "filter[resource]=a&filter[resource]=b",  # the same plain key twice
    "sort=priority&sort=resource",
    "page[size=1",
    "[x]=1",
    "=1",
    "filter[resource]=%ff",
])
def test_malformed_query_string_is_400_never_500(api, world, raw):
    resp = api.get(f"/entries?{raw}")
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["status"] == "400"


@pytest.mark.parametrize("repeated, comma", [
    ([("fields[dataset:entries]", "resource"), ("fields[dataset:entries]", "priority")],
     [("fields[dataset:entries]", "resource,priority")]),
    ([("filter[priority__in]", "5"), ("filter[priority__in]", "10")], [("filter[priority__in]", "5,10")]),
    ([("filter[resource__in]", "x,y.png"), ("filter[resource__in]", "clip.mp4")],
     [("filter[resource__in][]", "x,y.png"), ("filter[resource__in][]", "clip.mp4")]),
])
def test_repeated_list_keys_mean_the_comma_form(api, world, repeated, comma):
    assert ok(api, "/entries", ("sort", "resource"), *repeated)["data"] == \
        ok(api, "/entries", ("sort", "resource"), *comma)["data"]


@pytest.mark.parametrize("raw", ["page[size]=1&page[size]=2", "filter[priority]=5&filter[priority]=10",
                                 "count=true&count=true"])
def test_repeated_scalar_keys_are_400(api, world, raw):
    resp = api.get(f"/entries?{raw}")
    assert resp.status_code == 400, resp.text
    assert "more than once" in resp.json()["errors"][0]["detail"]


def test_show_refuses_index_parameters(api, world):
    entry = world.entries["catX01.png"]["id"]
    for pairs in ([("filter[priority]", "1")], [("sort", "priority")], [("page[size]", "1")]):
        resp = api.get(url(f"/entries/{entry}", *pairs))
        assert resp.status_code == 400, resp.text
    resp = api.get(url(f"/entries/{entry}", ("included", "owner")))
    assert resp.status_code == 400, resp.text


# --- sorting -----------------------------------------------------------------------------------

def test_sort_single_key(api, world):
    assert listed(api, "/entries", ("sort", "priority"))[:2] == ["x,y.png", "Cat_01.PNG"]
    assert listed(api, "/entries", ("sort", "+priority"))[:2] == ["x,y.png", "Cat_01.PNG"]
    assert listed(api, "/entries", ("sort", "-priority"))[0] == "catX01.png"
    assert listed(api, "/entries", ("sort", "-created_at")) == [CLIP_ENTRY] + [
        name for name, _, _ in reversed(PHOTO_ENTRIES)]
    assert listed(api, "/datasets", ("sort", "name")) == ["Clips", "Photos", "Sounds"]
    assert listed(api, "/datasets", ("sort", "-name")) == ["Sounds", "Photos", "Clips"]


def test_sort_multiple_keys(api, world):
    dog, cat = "dog\\01.jpg", "cat%01.png"
    assert listed(api, "/entries", ("sort", "-priority,resource")) == [
        "catX01.png", cat, dog, CLIP_ENTRY, "Cat_01.PNG", "x,y.png"]
    assert listed(api, "/entries", ("sort", "-priority,-resource")) == [
        "catX01.png", dog, cat, CLIP_ENTRY, "Cat_01.PNG", "x,y.png"]
    assert listed(api, "/datasets", ("sort", "-entries_total_count,name")) == ["Photos", "Clips", "Sounds"]
    by_project = sorted(world.datasets.values(), key=lambda d: d["attributes"]["name"], reverse=True)
    by_project.sort(key=lambda d: d["attributes"]["project_id"])
    assert listed(api, "/datasets", ("sort", "project_id,-name")) == [label(d) for d in by_project]


def test_ties_are_broken_by_id(api, world):
    by_priority = ok(api, "/entries", ("sort", "priority"))["data"]
    tied = [d["id"] for d in by_priority if d["attributes"]["priority"] == 5]
    assert len(tied) == 2
    assert tied == sorted(tied)
    fives = ok(api, "/entries", ("filter[priority]", "5"), ("sort", "priority"))["data"]
    assert [d["id"] for d in fives] == sorted(tied)
    assert [d["id"] for d in ok(api, "/entries")["data"]] == sorted(e["id"] for e in world.entries.values())


@pytest.mark.parametrize("sort", [
    "priority", "-priority", "-priority,resource", "job_id", "-job_id", "status", "dataset_id",
    "-created_at", "id", "-id",
])
def test_pages_of_one_never_overlap_or_skip(api, world, sort):
    full = [d["id"] for d in ok(api, "/entries", ("sort", sort))["data"]]
    assert len(full) == len(ALL_ENTRIES)
    walked = []
    for number in range(1, len(full) + 2):
        page = ok(api, "/entries", ("sort", sort), ("page[size]", "1"), ("page[number]", str(number)))
        walked += [d["id"] for d in page["data"]]
    assert walked == full


def test_ties_on_many_equal_rows_page_cleanly(api, scratch):
    dataset = scratch["id"]
    for i in range(12):
        factories.entry(api, dataset, f"s{i:02}.wav", priority=7)
    base = [("filter[dataset_id]", dataset), ("sort", "-priority")]
    full = [d["id"] for d in ok(api, "/entries", *base)["data"]]
    assert full == sorted(full)
    walked = []
    for number in (1, 2, 3, 4, 5):
        walked += [d["id"] for d in ok(api, "/entries", *base, ("page[size]", "3"),
                                        ("page[number]", str(number)))["data"]]
    assert walked == full


# --- paging, counts and links ------------------------------------------------------------------

def test_default_page(api, world):
    doc = ok(api, "/entries")
    assert len(doc["data"]) == 6
    assert doc["meta"]["page"] == {"number": 1, "size": 1000}
    assert "count" not in doc["meta"]
    assert doc["links"]["prev"] is None and doc["links"]["next"] is None
    assert "last" not in doc["links"]


def test_pages_and_links(api, world):
    sort = ("sort", "priority")
    first = ok(api, "/entries", sort, ("page[size]", "2"))
    assert listed(api, "/entries", sort, ("page[size]", "2")) == ["x,y.png", "Cat_01.PNG"]
    links = first["links"]
    assert dict(query_of(links["self"])) == {"sort": "priority", "page[number]": "1", "page[size]": "2"}
    assert dict(query_of(links["first"]))["page[number]"] == "1"
    assert links["prev"] is None
    assert dict(query_of(links["next"]))["page[number]"] == "2"

    second = ok(api, "/entries", sort, ("page[size]", "2"), ("page[number]", "2"))
    assert [label(d) for d in second["data"]] == [CLIP_ENTRY, "cat%01.png"]
    assert dict(query_of(second["links"]["prev"]))["page[number]"] == "1"
    assert dict(query_of(second["links"]["next"]))["page[number]"] == "3"

    last = ok(api, "/entries", sort, ("page[size]", "2"), ("page[number]", "3"))
    assert [label(d) for d in last["data"]] == ["dog\\01.jpg", "catX01.png"]
    assert last["links"]["next"] is None  # 6 rows: page 3 of 2 is the last
    assert dict(query_of(last["links"]["prev"]))["page[number]"] == "2"
    assert last["meta"]["page"] == {"number": 3, "size": 2}


def test_past_the_end(api, world):
    doc = ok(api, "/entries", ("page[size]", "2"), ("page[number]", "4"))
    assert doc["data"] == []
    assert doc["links"]["next"] is None
    assert dict(query_of(doc["links"]["prev"]))["page[number]"] == "3"
    far = ok(api, "/entries", ("page[size]", "1000"), ("page[number]", "2147483648"))
    assert far["data"] == [] and far["links"]["next"] is None


@pytest.mark.parametrize(("size", "pages"), [("1", 6), ("5", 2), ("6", 1), ("1000", 1)])
def test_following_next_links_visits_every_row_once(api, world, size, pages):
    full = [d["id"] for d in ok(api, "/entries", ("sort", "-priority"))["data"]]
    link, seen, visited = url("/entries", ("sort", "-priority"), ("page[size]", size)), [], 0
    while link:
        resp = api.get(link)
        assert resp.status_code == 200, resp.text
        seen += [d["id"] for d in resp.json()["data"]]
        link = resp.json()["links"]["next"]
        visited += 1
    assert seen == full
    assert visited == pages


def test_links_keep_the_query_and_round_trip(api, world, stamps):
    """Links carry every other parameter (re-encoded); following self gives the same page."""
    pairs = [("filter[resource__match]", "t%0"), ("filter[created_at__gte]", shifted(stamps[0][1], 5, 30)),
             ("included[]", "dataset"), ("fields[dataset:entries][]", "resource"), ("sort", "-priority"),
             ("page[size]", "1")]
    doc = ok(api, "/entries", *pairs)
    assert [label(d) for d in doc["data"]] == ["cat%01.png"]
    kept = dict(query_of(doc["links"]["self"]))
    assert kept["filter[resource__match]"] == "t%0"
    assert kept["filter[created_at__gte]"] == shifted(stamps[0][1], 5, 30)
    again = api.get(doc["links"]["self"])
    assert again.status_code == 200, again.text
    assert again.json()["data"] == doc["data"]
    assert again.json()["included"] == doc["included"]


def test_page_size_bounds(api, world):
    assert len(ok(api, "/entries", ("page[size]", "1"))["data"]) == 1
    assert len(ok(api, "/entries", ("page[size]", "1000"))["data"]) == 6


@pytest.mark.parametrize("spelling", ["true", "1", "yes", "t"])
def test_count(api, world, spelling):
    doc = ok(api, "/entries", ("count", spelling), ("page[size]", "4"), ("filter[priority__gte]", "0"))
    assert doc["meta"]["count"] == 5
    assert dict(query_of(doc["links"]["last"]))["page[number]"] == "2"
    assert dict(query_of(doc["links"]["last"]))["filter[priority__gte]"] == "0"


@pytest.mark.parametrize("spelling", ["false", "0", "no", "f"])
def test_no_count(api, world, spelling):
    doc = ok(api, "/entries", ("count", spelling))
    assert "count" not in doc["meta"]
    assert "last" not in doc["links"]


def test_count_of_nothing_and_past_the_end(api, world):
    empty = ok(api, "/entries", ("count", "true"), ("filter[resource]", "nothing"))
    assert empty["data"] == [] and empty["meta"]["count"] == 0
    assert dict(query_of(empty["links"]["last"]))["page[number]"] == "1"
    beyond = ok(api, "/entries", ("count", "true"), ("page[size]", "4"), ("page[number]", "9"))
    assert beyond["data"] == [] and beyond["meta"]["count"] == 6
    assert dict(query_of(beyond["links"]["last"]))["page[number]"] == "2"


# --- sparse fieldsets --------------------------------------------------------------------------

@pytest.mark.parametrize("pairs", [
    [("fields[dataset:entries]", "resource,priority")],
    [("fields[dataset:entries][]", "resource"), ("fields[dataset:entries][]", "priority")],
    [("fields", "resource,priority")],
])
def test_sparse_fieldsets(api, world, pairs):
    doc = ok(api, "/entries", *pairs)
    assert len(doc["data"]) == 6
    for obj in doc["data"]:
        assert obj["type"] == "dataset:entries" and obj["id"]
        assert set(obj["attributes"]) == {"resource", "priority"}
        assert "relationships" not in obj


def test_plain_fields_means_the_primary_type(api, world):
    doc = ok(api, "/entries", ("fields", "resource"), ("included", "dataset"))
    assert {tuple(o["attributes"]) for o in doc["data"]} == {("resource",)}
    assert {label(o) for o in doc["included"]} == {"Photos", "Clips"}
    assert all(len(o["attributes"]) > 1 for o in doc["included"])  # the included type is untouched


def test_fields_id_only_and_relationships(api, world):
    doc = ok(api, "/entries", ("fields[dataset:entries]", "id"))
    assert all(o["attributes"] == {} and o["id"] and o["type"] for o in doc["data"])
    doc = ok(api, "/entries", ("fields[dataset:entries]", "resource,dataset"))
    for obj in doc["data"]:
        assert set(obj["attributes"]) == {"resource"}
        assert set(obj["relationships"]) == {"dataset"}
        assert obj["relationships"]["dataset"]["data"]["type"] == "dataset:datasets"


def test_fields_for_included_types(api, world):
    doc = ok(api, "/entries", ("filter[dataset_id]", world.datasets["Photos"]["id"]),
             ("included", "dataset.project"), ("fields[dataset:datasets]", "name"),
             ("fields[dataset:projects][]", "organization_id"))
    by_type = {o["type"]: o for o in doc["included"]}
    assert by_type["dataset:datasets"]["attributes"] == {"name": "Photos"}
    assert by_type["dataset:projects"]["attributes"] == {"organization_id": 7}
    assert all(len(o["attributes"]) > 2 for o in doc["data"])  # the primary type is untouched


def test_fields_on_show(api, world):
    entry = world.entries["catX01.png"]
    resp = api.get(url(f"/entries/{entry['id']}", ("fields[dataset:entries][]", "priority")))
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["id"] == entry["id"] and data["type"] == "dataset:entries"
    assert data["attributes"] == {"priority": 10}


# --- includes ----------------------------------------------------------------------------------

def included_of(doc):
    return sorted((o["type"], label(o)) for o in doc.get("included", []))


@pytest.mark.parametrize("pairs", [
    [("included", "dataset,dataset.project")],
    [("included", "dataset.project")],  # a dotted path includes every step along it
    [("included[]", "dataset"), ("included[]", "dataset.project")],
    [("include", "dataset,dataset.project")],
    [("include", "dataset.project"), ("included", "dataset")],
])
def test_nested_includes(api, world, pairs):
    doc = ok(api, "/entries", ("filter[dataset_id]", world.datasets["Photos"]["id"]), *pairs)
    assert included_of(doc) == [("dataset:datasets", "Photos"), ("dataset:projects", "Birds")]


@pytest.mark.parametrize("pairs", [
    [("included", "dataset,project")],
    [("included[]", "dataset"), ("included[]", "project")],
    [("include", "project,dataset")],
    [("included", "dataset"), ("included", "project")],  # repeated keys, as generated clients send arrays
    [("included", "dataset"), ("included[]", "project")],
])
def test_include_forms_are_equivalent(api, world, pairs):
    doc = ok(api, "/entries", *pairs)
    assert included_of(doc) == [("dataset:datasets", "Clips"), ("dataset:datasets", "Photos"),
                                ("dataset:projects", "Birds")]


def test_included_records_are_deduplicated(api, world):
    doc = ok(api, "/entries", ("filter[dataset_id]", world.datasets["Photos"]["id"]), ("included", "dataset"))
    assert len(doc["data"]) == 5
    assert [(o["type"], o["id"]) for o in doc["included"]] == [
        ("dataset:datasets", world.datasets["Photos"]["id"])]
    for obj in doc["data"]:
        assert obj["relationships"]["dataset"]["data"] == {
            "type": "dataset:datasets", "id": world.datasets["Photos"]["id"]}


def test_no_include_no_included_member(api, world):
    assert "included" not in ok(api, "/entries")


def test_included_follows_the_page(api, world):
    doc = ok(api, "/entries", ("sort", "-priority"), ("page[size]", "1"), ("included", "dataset"))
    assert [label(d) for d in doc["data"]] == ["catX01.png"]
    assert included_of(doc) == [("dataset:datasets", "Photos")]
    doc = ok(api, "/entries", ("filter[resource]", "nothing"), ("included", "dataset"))
    assert doc["data"] == [] and doc["included"] == []


def test_to_many_include_datasets_entries(api, world):
    doc = ok(api, "/datasets", ("include", "entries"))
    rel = {label(d): d["relationships"]["entries"]["data"] for d in doc["data"]}
    photo_ids = sorted(world.entries[name]["id"] for name, _, _ in PHOTO_ENTRIES)
    assert rel["Photos"] == [{"type": "dataset:entries", "id": i} for i in photo_ids]
    assert rel["Clips"] == [{"type": "dataset:entries", "id": world.entries[CLIP_ENTRY]["id"]}]
    assert rel["Sounds"] == []
    assert included_of(doc) == sorted(("dataset:entries", name) for name in ALL_ENTRIES)


def test_to_many_include_entries_annotations(api, world):
    doc = ok(api, "/entries", ("included", "annotations"))
    rel = {label(d): [r["id"] for r in d["relationships"]["annotations"]["data"]] for d in doc["data"]}
    a = world.annotations
    assert sorted(rel["Cat_01.PNG"]) == sorted([a["a1"]["id"], a["a2"]["id"]])
    assert rel["cat%01.png"] == [a["a3"]["id"]]
    assert rel["catX01.png"] == []
    assert included_of(doc) == [("dataset:annotations", n) for n in ("a1", "a2", "a3")]


def test_to_many_relationship_only_when_included(api, world):
    doc = ok(api, "/datasets")
    assert all("entries" not in d.get("relationships", {}) for d in doc["data"])
    assert all(d["relationships"]["project"]["data"]["type"] == "dataset:projects" for d in doc["data"])


def test_projects_include_members_and_datasets(api, world):
    doc = ok(api, "/projects", ("filter[name]", "Birds"), ("included", "project_members,datasets"))
    assert included_of(doc) == [("dataset:datasets", "Clips"), ("dataset:datasets", "Photos"),
                                ("dataset:project_members", "ann@example.com"),
                                ("dataset:project_members", "bob@example.com")]


def test_project_members_include_project(api, world):
    birds = ("filter[organization_id]", "7")
    doc = ok(api, "/project_members", birds, ("include", "project"), ("fields[dataset:projects]", "name"))
    assert {label(o) for o in doc["data"]} == {"ann@example.com", "bob@example.com"}
    assert [(o["type"], o["attributes"]) for o in doc["included"]] == [
        ("dataset:projects", {"name": "Birds"})]


def test_annotations_include_entry_dataset_project(api, world):
    doc = ok(api, "/annotations", ("included[]", "entry"), ("included[]", "dataset"),
             ("included[]", "project"))
    assert included_of(doc) == [("dataset:datasets", "Photos"), ("dataset:entries", "Cat_01.PNG"),
                                ("dataset:entries", "cat%01.png"), ("dataset:projects", "Birds")]


@pytest.mark.parametrize(("pairs", "expected"), [
    ([("included", "dataset")], [("dataset:datasets", "Photos")]),
    ([("included[]", "dataset"), ("included[]", "project")],
     [("dataset:datasets", "Photos"), ("dataset:projects", "Birds")]),
    ([("include", "dataset.project")], [("dataset:datasets", "Photos"), ("dataset:projects", "Birds")]),
    ([("include", "annotations")], [("dataset:annotations", "a1"), ("dataset:annotations", "a2")]),
])
def test_includes_on_show(api, world, pairs, expected):
    entry = world.entries["Cat_01.PNG"]
    resp = api.get(url(f"/entries/{entry['id']}", *pairs))
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["data"]["id"] == entry["id"]
    assert included_of(doc) == expected


def test_show_to_many_include_lists_ids(api, world):
    photos = world.datasets["Photos"]
    resp = api.get(url(f"/datasets/{photos['id']}", ("include", "entries")))
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    ids = [r["id"] for r in doc["data"]["relationships"]["entries"]["data"]]
    assert ids == sorted(world.entries[name]["id"] for name, _, _ in PHOTO_ENTRIES)
    assert {o["id"] for o in doc["included"]} == set(ids)
