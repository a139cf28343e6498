"""Cursor paging (``page[cursor]``) over HTTP and JSON-RPC, on the test database: whole walks by
``links.next`` under every sort of entries (and some of the other resources) while rows come and
go, NULL placement, the 400s, the cost of a deep page, and page numbers left as they were."""

import base64
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from dataset_api.auth import tokens
from dataset_api.db import db
from dataset_api.jsonapi import cursor, query
from dataset_api.models import Entry, Project
from dataset_api.resources.entries import ENTRIES
from tests import factories
from tests.factories import expect, id_of
from tests.test_jsonrpc import call, post
from tests.test_jsonrpc import ok as rpc_ok
from tests.test_query_counts import statements  # noqa: F401 - the fixture that lists a request's SQL

CURSOR = "page[cursor]"


def get(api, path, pairs):
    resp = api.get(f"{path}?{urlencode(pairs)}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def query_of(link):
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


def walk(api, path, pairs=(), size=2, between=None):
    """Follow ``links.next`` from the first cursor page; return the ids in the order met.
    ``between(page_index)`` runs after each page but the last (inserts, deletes)."""
    doc = get(api, path, [*pairs, (CURSOR, ""), ("page[size]", str(size))])
    ids, pages = [], 0
    while True:
        links, meta = doc["links"], doc["meta"]
        assert "page[number]" not in links["self"] + links["first"] and "prev" not in links
        assert query_of(links["first"])[CURSOR] == "" and "number" not in meta["page"]
        assert len(doc["data"]) <= size
        ids += [obj["id"] for obj in doc["data"]]
        pages += 1
        assert pages < 50, "the walk does not end"
        if links["next"] is None:
            assert meta["page"]["next_cursor"] is None
            return ids
        next_query = query_of(links["next"])
        assert next_query[CURSOR] == meta["page"]["next_cursor"] and len(next_query[CURSOR]) <= 256
        if between is not None:
            between(pages)
        doc = get(api, path, list(next_query.items()))


def ordered_ids(api, path, pairs=()):
    """The ids of one page-number page holding everything: the order cursor pages must follow."""
    return [obj["id"] for obj in get(api, path, [*pairs, ("page[size]", "1000")])["data"]]


REFUSED = {"status": "400", "code": "invalid_cursor", "title": "Bad Request",
           "detail": cursor.REFUSED, "source": {"parameter": CURSOR}}


def bad(api, path, pairs, parameter=CURSOR, code="bad_request"):
    resp = api.get(f"{path}?{urlencode(pairs)}")
    assert resp.status_code == 400, resp.text
    error = resp.json()["errors"][0]
    assert error["source"] == {"parameter": parameter} and error["code"] == code, error
    return error


def refused(api, path, pairs):
    """Every cursor that cannot be followed is one and the same 400 (forged, garbled, foreign,
    stale): its answer tells nothing of why."""
    resp = api.get(f"{path}?{urlencode(pairs)}")
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"] == [REFUSED]


def seal_of(config, account_id=1, role="admin", orgs=()):
    """The seal the server makes ``tests.conftest.token``'s callers' cursors with."""
    user = tokens.User(account_id, "admin@example.com", None, role, tuple(orgs))
    return cursor.Seal.of(tokens.cursor_key(config), user)


def minted(seal, pairs, keys):
    """A cursor of GET /entries?<pairs> holding ``keys``, sealed with ``seal``."""
    q = query.parse(ENTRIES, pairs, seal=seal)
    payload = cursor._compact(keys)
    raw = cursor._digest(seal, ENTRIES, q, payload) + payload
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def photos(api):
    """A dataset of seven entries with repeated priorities, some job ids, assignees and error
    messages NULL, and two entries created at the same instant (ties broken by id)."""
    birds = factories.project(api)
    dataset = factories.dataset(api, birds)
    specs = [(3, "job-b", 7), (1, None, None), (3, None, 5), (0, "job-a", None), (1, "job-a", 7),
             (2, None, None), (3, "job-c", 5)]
    records = []
    for i, (priority, job, assignee) in enumerate(specs):
        record = factories.entry(api, dataset, f"img-{i}.png", priority=priority,
                                 **({"job_id": job} if job else {}))
        if assignee is not None:
            factories.stored(Entry, record, assigned_to_id=assignee, error_message=f"m{i % 2}")
        records.append(record)
    same = Entry.select(Entry.created_at).where(Entry.id == id_of(records[0]))
    with db.connection_context():
        factories.stored(Entry, records[1], created_at=same.scalar(), updated_at=same.scalar())
    return dataset


def churn(api, dataset, ids_now):
    """``between`` for a walk: per page, a new entry and the deletion of one still to come (or met)."""
    made = []

    def between(page):
        made.append(id_of(factories.entry(api, dataset, f"new-{page}-{len(made)}.png",
                                           priority=page % 4)))
        victim = ids_now()[page % len(ids_now())]
        expect(api.delete(f"/entries/{victim}"), 204)
    return between, made


@pytest.mark.parametrize("name", ENTRIES.sort_names)
def test_every_entries_sort_walks_like_its_page_number_order(api, photos, name):
    for sort in (name, f"-{name}", f"{name},-priority,id,created_at"):
        pairs = [("sort", sort), ("filter[dataset_id]", photos["id"])]
        expected = ordered_ids(api, "/entries", pairs)
        assert walk(api, "/entries", pairs, size=2) == expected
        assert walk(api, "/entries", pairs, size=3) == expected


@pytest.mark.parametrize("sort", ["priority", "-priority", "job_id", "-job_id", "-assigned_to_id,resource",
                                  "created_at", "-updated_at", "error_message,-id", "-resource"])
def test_walk_while_entries_come_and_go(api, photos, sort):
    pairs = [("sort", sort), ("filter[dataset_id]", photos["id"])]
    before = set(ordered_ids(api, "/entries", pairs))
    between, made = churn(api, photos, lambda: ordered_ids(api, "/entries", pairs))
    met = walk(api, "/entries", pairs, size=2, between=between)
    after = set(ordered_ids(api, "/entries", pairs))
    assert made and before - after, "nothing came or went"
    assert len(met) == len(set(met)), "an entry came twice"
    assert before & after <= set(met), "an entry that stayed throughout was skipped"
    assert set(met) <= before | set(made)


def test_null_sorts_last_ascending_and_first_descending(api, photos):
    for name in ("job_id", "assigned_to_id", "error_message"):
        for sort in (name, f"-{name}"):
            pairs = [("sort", sort), ("filter[dataset_id]", photos["id"])]
            values = [obj["attributes"][name] for obj in get(api, "/entries", pairs)["data"]]
            present = [v for v in values if v is not None]
            nulls = [None] * (len(values) - len(present))
            if sort.startswith("-"):
                assert values == nulls + sorted(present, reverse=True)
            else:
                assert values == sorted(present) + nulls
            assert walk(api, "/entries", pairs, size=1) == ordered_ids(api, "/entries", pairs)


@pytest.mark.parametrize("path, sort", [
    ("/projects", "-name"), ("/projects", "description"), ("/project_members", "-disabled_at"),
    ("/project_members", "role,email"), ("/datasets", "-progress"), ("/datasets", "modality,-created_at"),
    ("/annotations", "-created_at"), ("/annotations", "entry_id"), ("/note_feeds", "-status,content_md"),
    ("/note_comments", "-content_md"), ("/note_comments", "note_feed_id,-updated_at"),
])
def test_other_resources_walk_by_cursor(api, path, sort):
    world = factories.tree(api)
    factories.project(api, "Fish", description="wet")
    factories.project(api, "Ants")
    member = factories.member(api, world["project"], 21)
    factories.member(api, world["project"], 22, role="reviewer")
    factories.member(api, world["project"], 23, role="reviewer")
    factories.disable(api, member)
    factories.dataset(api, world["project"], "Sounds", modality="audio")
    factories.dataset(api, world["project"], "Texts", modality="text")
    for i, entry in enumerate(world["entries"]):
        factories.annotation(api, entry, label=f"l{i}")
        feed = factories.note_feed(api, entry, content_md=f"feed {3 - i}")
        factories.note_comment(api, feed, content_md=f"c{i}")
        factories.note_comment(api, feed, content_md=f"d{i}")
    expected = ordered_ids(api, path, [("sort", sort)])
    assert len(expected) >= 3
    assert walk(api, path, [("sort", sort)], size=1) == expected
    assert walk(api, path, [("sort", sort)], size=2) == expected


def test_filters_count_fields_and_includes_carry_through(api, photos):
    pairs = [("filter[priority__gte]", "1"), ("filter[dataset_id]", photos["id"]), ("sort", "-priority"),
             ("count", "true"), ("fields[dataset:entries]", "priority"), ("included", "dataset")]
    expected = ordered_ids(api, "/entries", pairs)
    doc = get(api, "/entries", [*pairs, (CURSOR, ""), ("page[size]", "2")])
    assert doc["meta"]["count"] == len(expected) == 6 and "total" not in doc["meta"]["page"]
    assert set(doc["data"][0]["attributes"]) == {"priority"} and doc["included"]
    following = query_of(doc["links"]["next"])
    assert {k: following[k] for k, _ in pairs} == dict(pairs) and following["page[size]"] == "2"
    assert walk(api, "/entries", pairs, size=4) == expected
    # the page size may change between pages: the cursor names a position, not a page
    following["page[size]"] = "10"
    assert [o["id"] for o in get(api, "/entries", list(following.items()))["data"]] == expected[2:]


def test_a_page_after_a_cursor_reads_ranges_from_the_cursor_on(api, photos, statements):  # noqa: F811
    """No OFFSET: the page after a cursor first reads the rows that tie with the cursor on the leading
    terms (same priority and created_at, a later id), then, while the page is not full, those beyond
    it on the term before, and so on (build.after): each read is one range of an index that holds
    the order, so a deep page costs what the first does (bench/cursor_pages.py)."""
    pairs = [("sort", "-priority,created_at"), ("filter[dataset_id]", photos["id"])]
    first = urlencode([*pairs, (CURSOR, ""), ("page[size]", "2")])
    resp, first_sql = statements(api, "GET", f"/entries?{first}")
    following = urlsplit(resp.json()["links"]["next"]).query
    _, later_sql = statements(api, "GET", f"/entries?{following}")
    assert not any("OFFSET" in s.upper() for s in later_sql)
    reads = [s for s in later_sql if "ORDER BY" in s]
    assert 1 <= len(reads) <= 3, reads  # one per term at most: id, created_at, priority
    assert '"priority" = ' in reads[0] and '"created_at" = ' in reads[0] and '"id" > ' in reads[0], reads
    if len(reads) > 1:
        assert '"priority" = ' in reads[1] and '"created_at" > ' in reads[1], reads
    assert len(later_sql) - len(reads) == len(first_sql) - 1  # the rest as for the first page


def test_page_numbers_are_unchanged(api, photos):
    doc = get(api, "/entries", [("sort", "priority"), ("page[number]", "2"), ("page[size]", "2"),
                                ("count", "true")])
    assert doc["meta"]["page"] == {"number": 2, "size": 2, "total": 4} and doc["meta"]["count"] == 7
    assert set(doc["links"]) == {"self", "first", "prev", "next", "last"}
    assert query_of(doc["links"]["next"]) == {"sort": "priority", "count": "true",
                                              "page[number]": "3", "page[size]": "2"}
    plain = get(api, "/entries", [])
    assert plain["meta"]["page"] == {"number": 1, "size": 1000} and plain["links"]["next"] is None


def test_long_text_sort_keys_name_the_row(api, photos):
    long_name = "x" * 300
    factories.entry(api, photos, f"{long_name}-1.png")
    last = factories.entry(api, photos, f"{long_name}-2.png")
    factories.entry(api, photos, f"{long_name}-3.png")
    pairs = [("sort", "-resource"), ("filter[dataset_id]", photos["id"])]
    assert walk(api, "/entries", pairs, size=1) == ordered_ids(api, "/entries", pairs)
    doc = get(api, "/entries", [*pairs, (CURSOR, ""), ("page[size]", "2")])
    assert doc["data"][-1]["id"] == last["id"]
    following = list(query_of(doc["links"]["next"]).items())
    expect(api.delete(f"/entries/{last['id']}"), 204)
    refused(api, "/entries", following)


def test_cursor_errors_name_the_parameter(api, photos):
    pairs = [("sort", "-priority"), ("filter[dataset_id]", photos["id"])]
    doc = get(api, "/entries", [*pairs, (CURSOR, ""), ("page[size]", "2")])
    token = query_of(doc["links"]["next"])[CURSOR]
    bad(api, "/entries", [*pairs, (CURSOR, token), ("page[number]", "2")])
    bad(api, "/entries", [*pairs, ("page[number]", "1"), (CURSOR, "")])
    refused(api, "/entries", [("sort", "priority"), ("filter[dataset_id]", photos["id"]), (CURSOR, token)])
    refused(api, "/entries", [("sort", "-priority"), (CURSOR, token)])  # another filter set
    refused(api, "/entries", [*pairs, ("filter[priority__gt]", "0"), (CURSOR, token)])
    bad(api, "/datasets", [("sort", "-priority"), (CURSOR, token)], parameter="sort")
    refused(api, "/datasets", [(CURSOR, token)])  # another resource's cursor
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-2] ^= 1  # one bit of the values
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    refused(api, "/entries", [*pairs, (CURSOR, tampered)])
    for garbled in ("abc", "A", "zzzzzzzzzzzz", token[:-3], "x" * 256, "not a cursor!", "x" * 257):
        refused(api, "/entries", [*pairs, (CURSOR, garbled)])
    # the same filters in another order, and +priority for priority, are the same query
    swapped = [("filter[dataset_id]", photos["id"]), ("sort", "-priority"), (CURSOR, token)]
    assert get(api, "/entries", swapped)["data"]


def test_a_cursor_sealed_with_the_key_but_wrong_types_is_refused(api, config, photos):
    """Even with the server's key (which no client has), values that do not fit the sort are the
    one refusal, never a 500."""
    pairs = [("sort", "priority"), ("filter[dataset_id]", photos["id"])]
    for keys in (["one", "x"], [1], [1, None], [True, "x"], [1.5, "x"], {"row": None}, "x"):
        refused(api, "/entries", [*pairs, (CURSOR, minted(seal_of(config), pairs, keys))])
    assert get(api, "/entries", [*pairs, (CURSOR, minted(seal_of(config), pairs, [0, "~"]))])["data"]


def test_cursors_made_for_another_caller_or_under_another_key_or_format_are_refused(client, api, config,
                                                                                 photos, tmp_path):
    from tests.conftest import Api, token

    pairs = [("sort", "priority"), ("filter[dataset_id]", photos["id"])]
    doc = get(api, "/entries", [*pairs, (CURSOR, ""), ("page[size]", "2")])
    mine = query_of(doc["links"]["next"])[CURSOR]
    # The same account under other rights, and another admin: a cursor fits its own caller only.
    for other in (token(account_id=2), token(role="org_owner", orgs=[1]), token(role="user")):
        refused(Api(client, other), "/entries", [*pairs, (CURSOR, mine)])
    # Sealed under another deployment's key: as stale after a rotation.
    other_key = seal_of(config.__class__(cursor_key="another deployment"))
    refused(api, "/entries", [*pairs, (CURSOR, minted(other_key, pairs, [0, "~"]))])
    # The format before keys (an unkeyed digest anyone could compute) is refused too.
    import hashlib
    q = query.parse(ENTRIES, pairs)
    payload = cursor._compact([0, "~"])
    raw = hashlib.blake2b(cursor.binding(ENTRIES, q) + b"\n" + payload, digest_size=6).digest() + payload
    refused(api, "/entries", [*pairs, (CURSOR, base64.urlsafe_b64encode(raw).rstrip(b"=").decode())])


def test_a_row_cursor_is_read_within_the_callers_scope(client, api, config, photos):
    """A cursor that names a row (long sort values) is read only where its caller may read now: a
    row it may no longer read is refused like a deleted one, never used as a position."""
    from tests.conftest import Api, token

    annotator = Api(client, token(account_id=7, email="ann@example.com", role="user"))
    factories.member(api, photos["attributes"]["project_id"], account_id=7, role="annotator",
                     email="ann@example.com")
    long_name = "y" * 300
    mine = [factories.entry(api, photos, f"{long_name}-{i}.png") for i in range(3)]
    pairs = [("sort", "resource"), ("filter[resource__prefix]", "yyy")]
    doc = get(annotator, "/entries", [*pairs, (CURSOR, ""), ("page[size]", "1")])
    assert [o["id"] for o in doc["data"]] == [mine[0]["id"]]
    following = list(query_of(doc["links"]["next"]).items())
    assert get(annotator, "/entries", following)["data"][0]["id"] == mine[1]["id"]
    # the entry moves on to review: no longer the annotator's to read
    with db.connection_context():
        Entry.update(wf_step="review").where(Entry.id == mine[0]["id"]).execute()
    refused(annotator, "/entries", following)
    # a cursor of the annotator's naming a row it never could read is refused alike
    hidden = factories.entry(api, photos, f"{long_name}-hidden.png")
    with db.connection_context():
        Entry.update(wf_step="review").where(Entry.id == hidden["id"]).execute()
    seal = seal_of(config, account_id=7, role="user")
    refused(annotator, "/entries", [*pairs, (CURSOR, minted(seal, pairs, {"row": hidden["id"]}))])


def test_json_rpc_index_pages_by_cursor(client, api):
    world = factories.tree(api)
    for i in range(4):
        factories.annotation(api, world["entries"][1], label=f"a{i}")
    expected = ordered_ids(api, "/annotations", [("sort", "-created_at")])
    met, page, calls = [], {"cursor": "", "size": 2}, 0
    while True:
        result = rpc_ok(call(client, "index", {"sort": "-created_at", "page": page, "count": True}))
        assert set(result["meta"]["page"]) == {"size", "has_more", "next_cursor"}
        assert result["meta"]["count"] == len(expected)
        met += [row["id"] for row in result["data"]]
        calls += 1
        if not result["meta"]["page"]["has_more"]:
            assert result["meta"]["page"]["next_cursor"] is None
            break
        page = {"cursor": result["meta"]["page"]["next_cursor"], "size": 2}
    assert met == expected and calls == 3
    # an HTTP cursor of the same query continues the same walk
    http = get(api, "/annotations", [("sort", "-created_at"), (CURSOR, ""), ("page[size]", "2")])
    result = rpc_ok(call(client, "index", {"sort": "-created_at", "page": {
        "cursor": http["meta"]["page"]["next_cursor"], "size": 2}}))
    assert [row["id"] for row in result["data"]] == expected[2:4]
    numbered = rpc_ok(call(client, "index", {"page": {"number": 1, "size": 2}}))
    assert set(numbered["meta"]["page"]) == {"number", "size", "has_more"}


@pytest.mark.parametrize("page", [{"cursor": "garbled"}, {"cursor": "", "number": 1},
                                  {"cursor": "x" * 300}])
def test_json_rpc_bad_cursor_is_invalid_params(client, api, page):
    factories.tree(api)
    reply = post(client, {"jsonrpc": "2.0", "method": "index", "id": 1,
                          "params": {"sort": "created_at", "page": page}}).json()
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["errors"][0]["parameter"] == CURSOR


def test_projects_sort_nulls_on_every_database(api):
    for name, description in (("a", None), ("b", "zeta"), ("c", None), ("d", "alpha")):
        factories.project(api, name, **({"description": description} if description else {}))
    with db.connection_context():
        assert Project.select().count() == 4
    names = [o["attributes"]["name"] for o in get(api, "/projects", [("sort", "description")])["data"]]
    assert names == ["d", "b", "a", "c"]
    names = [o["attributes"]["name"] for o in get(api, "/projects", [("sort", "-description,-id")])["data"]]
    assert names[2:] == ["b", "d"] and set(names[:2]) == {"a", "c"}


def test_without_a_configured_key_each_data_folder_seals_its_own(tmp_path):
    """Unset, the key is made in the data folder (as the token secret is, mode 0600) and kept, and
    a cursor one such instance made is refused by another: a deployment of several instances sets
    DATASET_API_CURSOR_KEY on all (docs/deploying.md)."""
    from dataset_api.config import Config
    from tests.conftest import Api, app_client, token

    one, two = tmp_path / "one", tmp_path / "two"
    with app_client(one, cursor_key="") as client:
        api = Api(client, token())
        for name in "abc":
            factories.project(api, name)
        doc = get(api, "/projects", [(CURSOR, ""), ("page[size]", "1")])
        following = list(query_of(doc["links"]["next"]).items())
        assert get(api, "/projects", following)["data"]
    key = one / tokens.CURSOR_KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    assert tokens.cursor_key(Config(data_dir=str(one))) == key.read_bytes().strip()  # kept
    with app_client(two, cursor_key="") as client:
        refused(Api(client, token()), "/projects", following)
