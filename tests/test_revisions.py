"""Annotation revisions: every create, update and delete of an annotation (JSON:API, JSON-RPC
calls and batches, imports) keeps one; ``GET /annotations/{id}/revisions`` lists them,
``POST /annotations/{id}/restore`` brings one back, and the export reads them ``as_of`` a time."""

import json

import pytest

from dataset_api.db import db
from dataset_api.models import AnnotationRevision, Event
from tests import factories
from tests.factories import caller, expect, id_of
from tests.test_import import ndjson, upload
from tests.test_jsonrpc import call, post, replies

OWNER, ANNOTATOR = 3, 5
MISSING = "0193a1b2-0000-7000-8000-000000000000"  # no annotation's id


def rpc_call(call_id, method, **params):
    return {"jsonrpc": "2.0", "method": method, "id": call_id, "params": params}


@pytest.fixture
def world(api):
    """A project with an owner member (3) and an annotator (5), a dataset without review, an
    entry and an annotation on it made by the admin."""
    home = factories.project(api)
    factories.member(api, home, OWNER, role="project_owner")
    factories.member(api, home, ANNOTATOR, role="annotator")
    photos = factories.dataset(api, home, sample_rate=0)
    item = factories.entry(api, photos)
    box = factories.annotation(api, item, dimensions={"x": 1}, metadata={"v": 1})
    return {"project": home, "dataset": photos, "entry": item, "annotation": box}


def history(api, annotation, status=200, query=""):
    """The revisions' attributes of ``annotation``, in their order (or the response, unless 200)."""
    resp = api.get(f"/annotations/{id_of(annotation)}/revisions{query}")
    if status != 200:
        assert resp.status_code == status, resp.text
        return resp
    expect(resp, 200)
    return [r["attributes"] for r in resp.json()["data"]]


def summary(revisions):
    return [(r["number"], r["operation"], r["account_id"], r["dimensions"]) for r in revisions]


def restore(api, annotation, number, headers=None):
    return api.post(f"/annotations/{id_of(annotation)}/restore",
                    {"data": {"attributes": {"revision": number}}}, headers=headers)


def patch(api, target, headers=None, **attributes):
    rid = id_of(target)
    return api.patch(f"/annotations/{rid}", {"data": {"type": "dataset:annotations", "id": rid,
                                                      "attributes": attributes}}, headers=headers)


def stored_revisions(**where):
    with db.connection_context():
        select = AnnotationRevision.select()
        for name, value in where.items():
            select = select.where(getattr(AnnotationRevision, name) == value)
        return list(select.order_by(AnnotationRevision.annotation_id, AnnotationRevision.number))


def complete(api, entry):
    """Take and submit ``entry`` as the admin (no review: it is done and completed)."""
    expect(factories.select(api, entry), 200)
    assert expect(factories.submit(api, entry), 200)["attributes"]["status"] == "completed"


# --- what is kept ---------------------------------------------------------------------------------

def test_rest_rpc_calls_and_batches_keep_revisions_in_order(api, client, world):
    box = world["annotation"]
    owner = caller(client, OWNER)
    expect(patch(owner, box, dimensions={"x": 2}), 200)
    rpc = factories.token(account_id=OWNER, email="user3@example.com", role="user")
    assert "result" in call(client, "update", {"id": box["id"], "dimensions": {"x": 3}}, bearer=rpc)
    batch = [rpc_call(n, "update", id=box["id"], dimensions={"x": x}) for n, x in ((1, 4), (2, 5))]
    assert all("result" in r for r in replies(post(client, batch)))
    assert "result" in call(client, "delete", {"id": box["id"]})

    assert summary(history(api, box)) == [
        (1, "created", 1, {"x": 1}), (2, "updated", OWNER, {"x": 2}), (3, "updated", OWNER, {"x": 3}),
        (4, "updated", 1, {"x": 4}), (5, "updated", 1, {"x": 5}), (6, "deleted", 1, {"x": 5})]
    first, *_, last = history(api, box)
    assert first["annotation"] == {"label": "bird"} and first["metadata"] == {"v": 1}
    assert last["entry_id"] == world["entry"]["id"] and last["annotation_id"] == box["id"]
    assert first["at"] < last["at"]


def test_a_batch_of_creates_keeps_a_first_revision_of_each(api, client, world):
    batch = [rpc_call(n, "create", entry_id=world["entry"]["id"], dimensions={"n": n},
                      annotation={"label": "bird"}) for n in range(3)]
    out = replies(post(client, batch))
    for n, reply in enumerate(out):
        [revision] = history(api, reply["result"]["id"])
        assert (revision["number"], revision["operation"], revision["account_id"]) == (1, "created", 1)
        assert revision["dimensions"] == {"n": n}
        assert revision["at"] == reply["result"]["updated_at"]


def test_an_import_keeps_revisions_of_what_it_creates_and_replaces(api, world):
    line = {"resource": "a.jpg", "annotations": [{"dimensions": {"x": 1}, "annotation": {"label": "bird"}}]}
    assert upload(api, world["dataset"], ndjson(line)).status_code == 200
    [old] = api.get("/annotations?filter[dataset_id]=" + world["dataset"]["id"]
                    + "&filter[entry_id__neq]=" + world["entry"]["id"]).json()["data"]
    assert summary(history(api, old)) == [(1, "created", 1, {"x": 1})]

    line["annotations"] = [{"dimensions": {"x": 9}, "annotation": {"label": "nest"}, "metadata": {"m": 1}}]
    assert upload(api, world["dataset"], ndjson(line), on_conflict="update").status_code == 200
    assert summary(history(api, old)) == [(1, "created", 1, {"x": 1}), (2, "deleted", 1, {"x": 1})]
    [new] = api.get(f"/annotations?filter[entry_id]={old['attributes']['entry_id']}").json()["data"]
    [revision] = history(api, new)
    assert (revision["operation"], revision["dimensions"], revision["annotation"], revision["metadata"]) == (
        "created", {"x": 9}, {"label": "nest"}, {"m": 1})
    assert revision["at"] == new["attributes"]["created_at"]


def test_a_rolled_back_request_keeps_no_revision(api, client, world):
    box = world["annotation"]
    batch = [rpc_call(1, "update", id=box["id"], dimensions={"x": 7}), rpc_call(2, "delete", id=MISSING)]
    out = replies(post(client, batch, query="?atomic=true"))
    assert "error" in out[0] and "error" in out[1]
    assert patch(api, box, dimensions={"x": 8}, headers={"If-Match": f'"{box["id"]}.99"'}).status_code == 412
    assert summary(history(api, box)) == [(1, "created", 1, {"x": 1})]
    assert len(stored_revisions(annotation_id=box["id"])) == 1


# --- reading them ---------------------------------------------------------------------------------

def test_revisions_page_by_cursor_in_number_order(api, world):
    box = world["annotation"]
    for x in range(2, 7):
        expect(patch(api, box, dimensions={"x": x}), 200)
    numbers, path = [], f"/annotations/{box['id']}/revisions?page[size]=2&page[cursor]="
    while path:
        page = api.get(path)
        expect(page, 200)
        numbers += [r["attributes"]["number"] for r in page.json()["data"]]
        path = page.json()["links"]["next"]
        assert path is None or path.startswith("/annotation_revisions?")
    assert numbers == [1, 2, 3, 4, 5, 6]
    counted = api.get(f"/annotations/{box['id']}/revisions?count=true&page[size]=4").json()
    assert counted["meta"]["count"] == 6 and len(counted["data"]) == 4


def test_the_revisions_index_and_show(api, world):
    box = world["annotation"]
    expect(patch(api, box, dimensions={"x": 2}), 200)
    found = api.get(f"/annotation_revisions?filter[annotation_id]={box['id']}&filter[operation]=updated")
    [revision] = expect(found, 200)
    shown = api.get(f"/annotation_revisions/{revision['id']}")
    assert expect(shown, 200) == revision and shown.headers["ETag"] == f'"{revision["id"]}.1"'
    assert revision["relationships"]["entry"]["data"]["id"] == world["entry"]["id"]
    with_entry = api.get(f"/annotations/{box['id']}/revisions?included=entry").json()
    assert [e["id"] for e in with_entry["included"]] == [world["entry"]["id"]]


def test_an_entry_deleted_takes_its_revisions_with_it(api, world):
    box = world["annotation"]
    assert api.delete(f"/entries/{world['entry']['id']}").status_code == 204
    assert history(api, box, 404).json()["errors"][0]["code"] == "not_found"
    assert restore(api, box, 1).status_code == 404
    assert stored_revisions(entry=world["entry"]["id"]) == []


def test_a_deleted_annotations_revisions_stay_readable_by_readers_of_its_entry(api, client, world):
    box = world["annotation"]
    assert api.delete(f"/annotations/{box['id']}").status_code == 204
    annotator = caller(client, ANNOTATOR)  # the entry waits, unassigned, at the annotator's step
    assert [r["operation"] for r in history(annotator, box)] == ["created", "deleted"]
    stranger = caller(client, 99)
    history(stranger, box, 404)
    assert restore(stranger, box, 1).status_code == 404
    history(api, MISSING, 404)


# --- restoring ------------------------------------------------------------------------------------

def test_restore_gives_the_values_of_a_revision_and_keeps_a_new_one(api, world):
    box = world["annotation"]
    expect(patch(api, box, dimensions={"x": 2}, annotation={"label": "nest"}, metadata={"v": 2}), 200)
    before = api.get(f"/annotations/{box['id']}")
    resp = restore(api, box, 1, headers={"If-Match": before.headers["ETag"]})
    restored = expect(resp, 200)["attributes"]
    assert (restored["dimensions"], restored["annotation"], restored["metadata"]) == (
        {"x": 1}, {"label": "bird"}, {"v": 1})
    assert resp.headers["ETag"] != before.headers["ETag"]
    assert restored["updated_at"] > before.json()["data"]["attributes"]["updated_at"]
    assert api.get(f"/annotations/{box['id']}").headers["ETag"] == resp.headers["ETag"]
    *_, last = history(api, box)
    first = history(api, box)[0]
    assert (last["number"], last["operation"]) == (3, "restored")
    assert {k: last[k] for k in ("dimensions", "annotation", "metadata")} == \
        {k: first[k] for k in ("dimensions", "annotation", "metadata")}


def test_restore_brings_a_deleted_annotation_back_with_its_id(api, world):
    box = world["annotation"]
    expect(patch(api, box, dimensions={"x": 2}), 200)
    assert api.delete(f"/annotations/{box['id']}").status_code == 204
    resp = restore(api, box, 2)
    back = expect(resp, 201)
    assert back["id"] == box["id"] and resp.headers["Location"] == f"/annotations/{box['id']}"
    assert back["attributes"]["dimensions"] == {"x": 2}
    assert back["attributes"]["entry_id"] == world["entry"]["id"]
    assert expect(api.get(f"/annotations/{box['id']}"), 200)["attributes"]["dimensions"] == {"x": 2}
    assert [r["operation"] for r in history(api, box)] == ["created", "updated", "deleted", "restored"]


def test_restore_honours_if_match(api, world):
    box = world["annotation"]
    expect(patch(api, box, dimensions={"x": 2}), 200)
    stale = f'"{box["id"]}.1"'
    resp = restore(api, box, 1, headers={"If-Match": stale})
    assert resp.status_code == 412 and resp.json()["errors"][0]["code"] == "stale_version"
    assert len(history(api, box)) == 2
    expect(restore(api, box, 1, headers={"If-Match": "*"}), 200)
    assert api.delete(f"/annotations/{box['id']}").status_code == 204
    assert restore(api, box, 1, headers={"If-Match": "*"}).status_code == 412  # nothing current matches
    assert len(history(api, box)) == 4


def test_an_unknown_revision_is_a_422_at_its_pointer(api, world):
    resp = restore(api, world["annotation"], 7)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["source"] == {"pointer": "/data/attributes/revision"}
    assert restore(api, world["annotation"], 0).status_code == 422  # below the schema's minimum


def test_a_completed_entry_refuses_a_restore(api, world):
    box = world["annotation"]
    complete(api, world["entry"])
    resp = restore(api, box, 1)
    assert resp.status_code == 409 and resp.json()["errors"][0]["code"] == "entry_completed"
    assert len(history(api, box)) == 1


def test_a_reader_who_may_not_write_gets_403_and_the_assignee_may_restore(api, client, world):
    box = world["annotation"]
    expect(patch(api, box, dimensions={"x": 2}), 200)
    annotator = caller(client, ANNOTATOR)
    assert len(history(annotator, box)) == 2
    assert restore(annotator, box, 1).status_code == 403
    expect(factories.assign(api, world["entry"], ANNOTATOR), 200)
    expect(restore(annotator, box, 1), 200)
    assert history(api, box)[-1]["account_id"] == ANNOTATOR


def test_restore_records_the_annotations_events(api, world):
    expect(api.post("/webhooks", {"data": {"type": "dataset:webhooks", "attributes": {
        "project_id": world["project"]["id"], "url": "https://hooks.example.com/in"}}}), 201)
    box = world["annotation"]

    def names():
        with db.connection_context():
            return [e.name for e in Event.select().where(Event.resource_id == box["id"]).order_by(Event.id)]

    before = names()
    expect(restore(api, box, 1), 200)
    assert api.delete(f"/annotations/{box['id']}").status_code == 204
    expect(restore(api, box, 1), 201)
    assert names()[len(before):] == ["dataset:annotations:updated", "dataset:annotations:deleted",
                                     "dataset:annotations:created"]


# --- JSON-RPC -------------------------------------------------------------------------------------

def test_rpc_revisions_and_restore(api, client, world):
    box = world["annotation"]
    for x in (2, 3):
        expect(patch(api, box, dimensions={"x": x}), 200)
    first = call(client, "revisions", {"id": box["id"], "page": {"cursor": "", "size": 2}})["result"]
    assert [r["number"] for r in first["data"]] == [1, 2] and first["meta"]["page"]["has_more"]
    after = first["meta"]["page"]["next_cursor"]
    rest = call(client, "revisions", {"id": box["id"], "page": {"cursor": after}})
    assert [r["number"] for r in rest["result"]["data"]] == [3]
    assert first["data"][0]["operation"] == "created" and first["data"][0]["id"]

    restored = call(client, "restore", {"id": box["id"], "revision": 1})["result"]
    assert restored["id"] == box["id"] and restored["dimensions"] == {"x": 1}
    assert history(api, box)[-1]["operation"] == "restored"

    unknown = call(client, "restore", {"id": box["id"], "revision": 9})["error"]
    assert unknown["code"] == -32602 and unknown["data"]["errors"][0]["pointer"] == "/params/revision"
    assert call(client, "restore", {"id": box["id"], "revision": "1"})["error"]["code"] == -32602
    assert call(client, "revisions", {"id": MISSING})["error"]["code"] == -32004
    assert call(client, "restore", {"id": MISSING, "revision": 1})["error"]["code"] == -32004


def test_rpc_restore_in_a_batch_of_a_deleted_annotation(api, client, world):
    box = world["annotation"]
    batch = [rpc_call(1, "delete", id=box["id"]), rpc_call(2, "restore", id=box["id"], revision=1),
             rpc_call(3, "revisions", id=box["id"])]
    out = replies(post(client, batch))
    assert out[1]["result"]["id"] == box["id"]
    assert [r["operation"] for r in out[2]["result"]["data"]] == ["created", "deleted", "restored"]


# --- the export as of a time ----------------------------------------------------------------------

def exported(api, dataset, as_of=None):
    query = "?format=jsonl" + (f"&as_of={as_of}" if as_of else "")
    resp = api.get(f"/datasets/{id_of(dataset)}/export{query}", headers={"Accept": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text
    return {line["resource"]: line["annotations"] for line in map(json.loads, resp.text.splitlines())}


def test_the_export_as_of_a_time_has_the_annotations_of_then(api, world):
    box = world["annotation"]
    gone = factories.annotation(api, world["entry"], label="gone")
    then = max(history(api, box)[-1]["at"], history(api, gone)[-1]["at"])
    expect(patch(api, box, dimensions={"x": 2}), 200)
    assert api.delete(f"/annotations/{gone['id']}").status_code == 204
    later = factories.annotation(api, world["entry"], label="later")

    now = exported(api, world["dataset"])["img.png"]
    assert sorted(a["id"] for a in now) == sorted([box["id"], later["id"]])
    past = exported(api, world["dataset"], then.replace("+", "%2B"))["img.png"]
    assert [a["id"] for a in past] == [box["id"], gone["id"]]
    assert past[0]["dimensions"] == {"x": 1} and past[1]["annotation"] == {"label": "gone"}
    assert past[0]["created_at"] == history(api, box)[0]["at"]  # its first revision's time
    assert past[0]["created_by_email"] == "admin@example.com" and past[1]["created_by_email"] is None
    assert exported(api, world["dataset"], "2000-01-01T00:00:00Z")["img.png"] == []
    refused = api.get(f"/datasets/{world['dataset']['id']}/export?as_of=yesterday",
                      headers={"Accept": "application/x-ndjson"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["source"] == {"parameter": "as_of"}


def test_a_large_import_keeps_each_revision_with_its_values_exactly(api, world):
    """Many revisions at once (COPY on PostgreSQL): text with tabs, line breaks, backslashes and
    quotes comes back as it was sent."""
    tricky = "tab\there\nline \\ back \"quoted\" \\N"
    lines = [{"resource": f"many-{i}.jpg", "annotations": [
        {"dimensions": {"i": i}, "annotation": {"label": tricky}, "metadata": {"n": [i, tricky]}}]}
        for i in range(150)]
    assert upload(api, world["dataset"], ndjson(*lines)).status_code == 200
    kept = stored_revisions(operation="created", account_id=1)
    by_value = {r.dimensions["i"]: r for r in kept if "i" in r.dimensions}
    assert sorted(by_value) == list(range(150))
    for i, revision in by_value.items():
        assert (revision.number, revision.annotation, revision.metadata) == (
            1, {"label": tricky}, {"n": [i, tricky]})
