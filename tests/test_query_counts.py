"""SQL statements per request do not grow with the data: no N+1 as pages and includes grow.

Each test sends the same request against a small world and again after growing it about tenfold
(more entries, datasets, projects, annotations, note feeds, comments and members), and asserts
that the request ran exactly as many SQL statements both times: a statement per record would
show up as a difference. A ceiling per kind of request (``READ_CEILING``, ``WRITE_CEILING``)
also catches a request that is expensive from the start.

The statements are counted at the bound database's ``execute_sql``, which every peewee query
and savepoint goes through on SQLite and PostgreSQL alike (BEGIN and COMMIT do not: they run on
the cursor, at most once a request). The JSON-RPC batch path has its own statement tests in
test_jsonrpc.py.
"""

import re
from collections import Counter

import pytest

from dataset_api.db import db
from tests import factories
from tests.factories import expect

OWNER, REVIEWER, ANNOTATOR = 10, 11, 12
TEAM = ((OWNER, "project_owner", True), (REVIEWER, "reviewer", True), (ANNOTATOR, "annotator", True))
CALLERS = {"admin": None, "annotator": ANNOTATOR}

# A read is a handful of SELECTs: the page (or the record), a count when asked, and one per
# include path (five at the most): 7. 10 leaves room for a subquery moved out of line, not for a
# statement per record: the large worlds have 20 records and more of every kind.
READ_CEILING = 10
# A write reads its record or its parent, asks for the caller's role, writes (a create in a
# savepoint: SAVEPOINT, INSERT, RELEASE), moves the dataset counters (two UPDATEs) and reads the
# row back: 8 at the most today; 15 leaves room for a check more, not for a statement per record.
WRITE_CEILING = 15

SMALL = {"projects": 1, "datasets": 2, "entries": 1}  # 2 entries in 2 datasets
GROWTH = {"projects": 2, "datasets": 3, "entries": 3}  # 18 more: 20 entries in 8 datasets


@pytest.fixture
def statements(app, monkeypatch):
    """``statements(api, method, path, body=None, status=200)``: send one request; return its
    response and the SQL statements it ran."""
    seen = []
    real = db.obj.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", execute_sql)

    def run(api, method, path, body=None, status=200):
        seen.clear()
        resp = api.request(method, path, body)
        ran = list(seen)
        assert resp.status_code == status, resp.text
        return resp, ran

    return run


def shape(sql):
    """A statement without its column and parameter lists, to name what repeats."""
    sql = re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", sql)
    return re.sub(r"\((?:\?|%s)(?:, (?:\?|%s))*\)", "(…)", sql)[:200]


def assert_flat(small, large, ceiling):
    """As many statements for the large world as for the small one, and no more than ``ceiling``."""
    extra = Counter(map(shape, large)) - Counter(map(shape, small))
    assert len(large) == len(small), (
        f"{len(small)} statements for the small world, {len(large)} for the large one; "
        f"the large one repeats: {dict(extra)}")
    assert len(small) <= ceiling, f"{len(small)} statements, more than {ceiling}: {small}"


def as_(client, api, who):
    return api if CALLERS[who] is None else factories.caller(client, CALLERS[who])


# ------------------------------------------------------------------------------------ index pages

INDEX_PAGES = {
    "entries": "/entries?included=dataset,dataset.project,annotations,note_feeds&count=true",
    "datasets": "/datasets?included=project,entries",
    "projects": "/projects?include=datasets,project_members",
    "project_members": "/project_members?include=project",
    "annotations": "/annotations?include=entry,dataset,project",
    "note_feeds": "/note_feeds?include=entry,annotation,note_comments,dataset,project",
    "note_comments": "/note_comments?include=note_feed",
}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("resource", INDEX_PAGES)
def test_an_index_page_with_includes_runs_as_many_statements_for_20_entries_as_for_2(
        api, client, statements, resource, who):
    caller = as_(client, api, who)
    factories.populate(api, **SMALL, team=TEAM, tag="small")
    resp, small = statements(caller, "GET", INDEX_PAGES[resource])
    sizes = len(resp.json()["data"]), len(resp.json()["included"])
    factories.populate(api, **GROWTH, team=TEAM, tag="large")
    resp, large = statements(caller, "GET", INDEX_PAGES[resource])
    assert len(resp.json()["data"]) > sizes[0] and len(resp.json()["included"]) > sizes[1]
    assert_flat(small, large, READ_CEILING)


# ---------------------------------------------------------------------------- show with includes

def more_entries(api, world):
    factories.entries(api, world.datasets[0], 19, prefix="more")


def more_notes(api, world):
    for i in range(9):
        box = factories.annotation(api, world.entries[0], f"more-{i}")
        factories.note_feed(api, world.entries[0], f"More {i}", box)


def more_datasets_and_members(api, world):
    for i in range(9):
        factories.dataset(api, world.projects[0], f"more-{i}")
        factories.member(api, world.projects[0], 100 + i)


def more_comments(api, world):
    for i in range(19):
        factories.note_comment(api, world.note_feeds[0], f"More {i}")


# resource -> (path, what grows under the record)
SHOWS = {
    "datasets": ("/datasets/{datasets[0][id]}?include=project,entries", more_entries),
    "entries": ("/entries/{entries[0][id]}?include=dataset,dataset.project,project,annotations,note_feeds",
                more_notes),
    "projects": ("/projects/{projects[0][id]}?include=datasets,project_members",
                 more_datasets_and_members),
    "note_feeds": ("/note_feeds/{note_feeds[0][id]}?include=entry,annotation,note_comments,dataset,project",
                   more_comments),
}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("resource", SHOWS)
def test_show_with_includes_runs_as_many_statements_for_many_related_records_as_for_one(
        api, client, statements, resource, who):
    caller = as_(client, api, who)
    world = factories.populate(api, **SMALL, team=TEAM, tag="small")
    path, grow = SHOWS[resource]
    path = path.format(**vars(world))
    resp, small = statements(caller, "GET", path)
    included = len(resp.json()["included"])
    grow(api, world)
    factories.populate(api, **GROWTH, team=TEAM, tag="large")
    resp, large = statements(caller, "GET", path)
    assert len(resp.json()["included"]) >= included + 9
    assert_flat(small, large, READ_CEILING)


# ---------------------------------------------------------------------------------------- creates

def new_entry(world, n):
    return {"data": {"type": "dataset:entries", "attributes": {
        "dataset_id": world.datasets[0]["id"], "resource": f"new-{n}.png"}}}


def new_annotation(world, n):
    return {"data": {"type": "dataset:annotations", "attributes": {
        "entry_id": world.entries[0]["id"], "dimensions": {"n": n}, "annotation": {"label": "new"}}}}


# resource -> the body of its n-th create
CREATES = {"entries": new_entry, "annotations": new_annotation}


@pytest.mark.parametrize("who", ["admin", "project owner"])
@pytest.mark.parametrize("resource", CREATES)
def test_a_create_runs_as_many_statements_in_a_large_world_as_in_a_small_one(
        api, client, statements, resource, who):
    body = CREATES[resource]
    caller = api if who == "admin" else factories.caller(client, OWNER)
    world = factories.populate(api, **SMALL, team=TEAM, tag="small")
    _, small = statements(caller, "POST", f"/{resource}", body(world, 0), status=201)
    more_entries(api, world)
    more_notes(api, world)
    factories.populate(api, **GROWTH, team=TEAM, tag="large")
    _, large = statements(caller, "POST", f"/{resource}", body(world, 1), status=201)
    assert_flat(small, large, WRITE_CEILING)


# ------------------------------------------------------------------------------ workflow actions

APPROVE = {"data": {"attributes": {"approved": True}}}


def held_by_the_annotator(client, entry):
    expect(factories.select(factories.caller(client, ANNOTATOR), entry), 200)


def at_review_held_by_the_reviewer(client, entry):
    annotator = factories.caller(client, ANNOTATOR)
    expect(factories.select(annotator, entry), 200)
    expect(factories.submit(annotator, entry), 200)
    expect(factories.select(factories.caller(client, REVIEWER), entry), 200)


ASSIGN = {"data": {"type": "dataset:entries", "attributes": {"assigned_to_id": ANNOTATOR}}}
ERROR = {"data": {"attributes": {"message": "corrupt file"}}}
NEXT = "/entries/next?filter[dataset_id]={dataset}"

# action -> (who acts, what puts the entry in place first, method, path, body)
ACTIONS = {
    "select": (ANNOTATOR, None, "GET", "/entries/{entry}/select", None),
    "submit": (ANNOTATOR, held_by_the_annotator, "POST", "/entries/{entry}/submit", None),
    "approve": (REVIEWER, at_review_held_by_the_reviewer, "POST", "/entries/{entry}/submit", APPROVE),
    "assign": (OWNER, None, "PATCH", "/entries/{entry}/assign", ASSIGN),
    "error": (ANNOTATOR, held_by_the_annotator, "POST", "/entries/{entry}/error", ERROR),
    "next (claims one)": (ANNOTATOR, None, "GET", NEXT, None),
    "next (the caller's own)": (ANNOTATOR, held_by_the_annotator, "GET", NEXT, None),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_workflow_action_runs_as_many_statements_in_a_dataset_of_20_as_in_one_of_2(
        api, client, statements, action):
    """The same action on the highest-priority entry of a dataset of 2 entries, then of a dataset
    of 20 (in a world grown around it); the caller holds nothing in either dataset but what
    ``prepare`` gives it."""
    account, prepare, method, path, body = ACTIONS[action]
    caller = factories.caller(client, account)
    project = factories.project(api, "Work", 1)
    factories.members(api, project, TEAM)
    statements_by_size = []
    for size in (2, 20):
        dataset = factories.dataset(api, project, f"{size} entries")
        entry = factories.entries(api, dataset, size, prefix=f"d{size}")[-1]  # the highest priority
        if size == 20:
            factories.populate(api, **GROWTH, team=TEAM, tag="large")
        if prepare is not None:
            prepare(client, entry)
        resp, ran = statements(caller, method, path.format(entry=entry["id"], dataset=dataset["id"]), body)
        assert resp.json()["data"]["id"] == entry["id"]
        statements_by_size.append(ran)
    assert_flat(*statements_by_size, WRITE_CEILING)
