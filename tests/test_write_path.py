"""The one write path (``dataset_api.writes``, issue #22): every write route of openapi.yaml and
every JSON-RPC method that writes moves the version (ETag) of what it changed, records its events
and keeps its annotations' revisions, as seen over HTTP: ``GET`` of the record, ``GET /events``,
``GET /annotation_revisions``. A route or method added without a case here fails the census."""

import uuid
from dataclasses import dataclass, field

import pytest

from dataset_api import spec
from dataset_api.jsonrpc import bulk, methods
from tests import factories
from tests.factories import caller, expect, id_of
from tests.test_events import drain, hooked, worker
from tests.test_import import ndjson, upload
from tests.test_jsonrpc import call, replies
from tests.test_jsonrpc import post as rpc_post

ANNOTATOR = 5
WRITING_GETS = {"claimNextEntry", "selectEntry"}  # GETs that claim an entry (the reference API's)
READING_METHODS = {"show", "index", "revisions"}  # JSON-RPC methods that write nothing


@dataclass
class Write:
    """What a write should have left: ``records`` [(path, version before or 0 when new, or None
    when it is gone now)], its ``events`` (names, in commit order) and ``revisions`` [(annotation
    id, operation)]."""

    records: list
    events: list
    revisions: list = field(default_factory=list)


def version(api, path):
    """The version of the record at ``path`` (from its ETag ``"<id>.<version>"``), None if gone."""
    resp = api.get(path)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return int(resp.headers["ETag"].strip('"').rpartition(".")[2])


def events(api):
    """[(id, name, resource_id)] of the whole log, in commit order (an admin sees every event)."""
    data = expect(api.get("/events?page[size]=1000"), 200)
    return [(e["id"], e["attributes"]["name"], e["attributes"]["resource_id"]) for e in data]


def revisions(api):
    data = expect(api.get("/annotation_revisions?page[size]=1000"), 200)
    return {e["id"]: (e["attributes"]["annotation_id"], e["attributes"]["operation"]) for e in data}


def ann(data):
    return f"/annotations/{id_of(data)}"


def attrs(kind, rid, **attributes):
    return {"data": {"type": f"dataset:{kind}", "id": rid, "attributes": attributes}}


def rpc(client, method, **params):
    reply = call(client, method, params)
    assert "result" in reply, reply
    return reply["result"]


# ------------------------------------------------------------------------------------ the world

@pytest.fixture
def world(api, client):
    """A project with an annotator (5), a dataset without review holding two entries (the first
    with an annotation, the second assigned to the annotator), a note feed with a comment, and a
    webhook with a delivery of the events written so far."""
    home = factories.project(api)
    member = factories.member(api, home, ANNOTATOR, role="annotator")
    hook = api.create("webhooks", project_id=home["id"], url="http://127.0.0.1:9/hook")
    photos = factories.dataset(api, home, sample_rate=0)
    first, second = factories.entries(api, photos, 2)
    expect(factories.assign(api, second, ANNOTATOR), 200)
    box = factories.annotation(api, first, dimensions={"x": 1})
    feed = factories.note_feed(api, first)
    comment = factories.note_comment(api, feed)
    delivery = expect(api.get(f"/webhook_deliveries?filter[webhook_id]={hook['id']}&page[size]=1"), 200)[0]
    # made with its event in one statement on PostgreSQL, its id there too
    assert uuid.UUID(delivery["id"]).version == 7 and str(uuid.UUID(delivery["id"])) == delivery["id"]
    return {"api": api, "client": client, "annotator": caller(client, ANNOTATOR), "project": home,
            "member": member, "dataset": photos, "first": first, "second": second, "box": box, "feed": feed,
            "comment": comment, "hook": hook, "delivery": delivery}


def mark(w):
    """Take the log and the revisions as they are now: what a case did before is not its write."""
    w["log"], w["kept"] = events(w["api"]), revisions(w["api"])


def changed(path, w, **bumped):
    """``Write.records`` for the record at ``path``, its version read now (before the write)."""
    return [(path, version(w["api"], path)), *((p, version(w["api"], p)) for p in bumped.values())]


def gone(path):
    return [(path, None)]


KINDS = {"project": "projects", "member": "project_members", "dataset": "datasets", "first": "entries",
         "second": "entries", "box": "annotations", "feed": "note_feeds", "comment": "note_comments",
         "hook": "webhooks", "delivery": "webhook_deliveries"}  # the world's records, by key


def at(w, key):
    """The path of the world's record ``key``."""
    return f"/{KINDS[key]}/{w[key]['id']}"


def updates(name, key, /, *, event=True, revised=False, **attributes):
    """The case ``name``: a PATCH of the world's record ``key`` with ``attributes``; its event
    (unless ``event`` is False: webhooks) and, ``revised``, its revision."""
    def case(w):
        kind, rid = KINDS[key], w[key]["id"]
        records = changed(at(w, key), w)
        expect(w["api"].patch(at(w, key), attrs(kind, rid, **attributes)), 200)
        return Write(records, [f"dataset:{kind}:updated"] if event else [],
                     [(rid, "updated")] if revised else [])
    case.__name__ = name
    return case


def deletes(name, key, /, *, event=True, revised=False, also=()):
    """The case ``name``: a DELETE of the world's record ``key``, the records ``also`` gone with
    it (a cascade: one event, for the record deleted; revisions go with their entries)."""
    def case(w):
        kind, rid = KINDS[key], w[key]["id"]
        expect(w["api"].delete(at(w, key)), 204)
        return Write([(at(w, k), None) for k in (key, *also)], [f"dataset:{kind}:deleted"] if event else [],
                     [(rid, "deleted")] if revised else [])
    case.__name__ = name
    return case


# --------------------------------------------------------------------------------------- cases
# Each case performs one write through the API and says what it should have left.

def create_project(w):
    new = w["api"].create("projects", name="New", organization_id=7)
    return Write([(f"/projects/{new['id']}", 0)], ["dataset:projects:created"])


def create_project_member(w):
    new = factories.member(w["api"], w["project"], 8)
    return Write([(f"/project_members/{new['id']}", 0)], ["dataset:project_members:created"])


def create_dataset(w):
    new = factories.dataset(w["api"], w["project"], name="More")
    return Write([(f"/datasets/{new['id']}", 0)], ["dataset:datasets:created"])


def _dataset(w):
    return f"/datasets/{w['dataset']['id']}"


def import_dataset_entries(w):
    # one summary event; each annotation written (and each replaced) keeps its revision; the
    # entries' counters move the dataset's version, the entry updated moves its own
    first = f"/entries/{w['first']['id']}"
    records = changed(_dataset(w), w, entry=first)
    def note(label):
        return [{"dimensions": {}, "annotation": {"label": label}}]

    text = ndjson({"resource": "img-0.png", "priority": 3, "annotations": note("cat")},
                  {"resource": "new.png", "annotations": note("dog")})
    resp = upload(w["api"], w["dataset"], text, on_conflict="update")
    assert resp.status_code == 200, resp.text
    assert (resp.json()["meta"]["created"], resp.json()["meta"]["updated"]) == (1, 1)
    notes = expect(w["api"].get("/annotations?sort=created_at"), 200)
    assert [n["attributes"]["annotation"]["label"] for n in notes] == ["cat", "dog"]
    return Write(records + [(f"/entries/{notes[1]['attributes']['entry_id']}", 0)],
                 ["dataset:entries:imported"],
                 [(w["box"]["id"], "deleted"), (notes[0]["id"], "created"), (notes[1]["id"], "created")])


def create_entry(w):
    records = changed(_dataset(w), w)  # its total count
    new = factories.entry(w["api"], w["dataset"], resource="more.png")
    return Write(records + [(f"/entries/{new['id']}", 0)], ["dataset:entries:created"])


def _entry(w, which="first"):
    return f"/entries/{w[which]['id']}"


def delete_entry(w):
    records = changed(_dataset(w), w)  # its total count
    expect(w["api"].delete(_entry(w)), 204)
    return Write(records + gone(_entry(w)) + gone(ann(w["box"])), ["dataset:entries:deleted"])


def assign_entry(w):
    records = changed(_entry(w), w)
    expect(factories.assign(w["api"], w["first"], ANNOTATOR), 200)
    return Write(records, ["dataset:entries:assigned"])


def select_entry(w):
    records = changed(_entry(w), w, dataset=_dataset(w))  # in progress now
    expect(factories.select(w["annotator"], w["first"]), 200)
    return Write(records, ["dataset:entries:selected"])


def claim_next_entry(w):
    factories.member(w["api"], w["project"], 6, role="annotator")  # holds no entry yet
    mark(w)
    records = changed(_entry(w), w, dataset=_dataset(w))
    assert expect(factories.next_entry(caller(w["client"], 6), w["dataset"]), 200)["id"] == w["first"]["id"]
    return Write(records, ["dataset:entries:selected"])


def submit_entry(w):
    # the dataset's last open entry: its counters complete it
    expect(factories.select(w["annotator"], w["first"]), 200)
    expect(factories.select(w["annotator"], w["second"]), 200)
    expect(factories.submit(w["annotator"], w["first"]), 200)
    mark(w)
    records = changed(_entry(w, "second"), w, dataset=_dataset(w))
    expect(factories.submit(w["annotator"], w["second"]), 200)
    return Write(records, ["dataset:entries:submitted", "dataset:datasets:completed"])


def report_entry_error(w):
    expect(factories.select(w["annotator"], w["second"]), 200)
    mark(w)
    records = changed(_entry(w, "second"), w, dataset=_dataset(w))
    expect(factories.error(w["annotator"], w["second"]), 200)
    return Write(records, ["dataset:entries:errored"])


def create_annotation(w):
    new = factories.annotation(w["api"], w["first"], label="sky")
    return Write([(ann(new), 0)], ["dataset:annotations:created"], [(new["id"], "created")])


def restore_annotation(w):
    expect(w["api"].patch(ann(w["box"]), attrs("annotations", w["box"]["id"], metadata={"v": 2})), 200)
    mark(w)
    records = changed(ann(w["box"]), w)
    expect(w["api"].post(f"{ann(w['box'])}/restore", {"data": {"attributes": {"revision": 1}}}), 200)
    return Write(records, ["dataset:annotations:updated"], [(w["box"]["id"], "restored")])


def restore_deleted_annotation(w):
    expect(w["api"].delete(ann(w["box"])), 204)
    mark(w)
    expect(w["api"].post(f"{ann(w['box'])}/restore", {"data": {"attributes": {"revision": 1}}}), 201)
    # back with its id, at version 1 (a new record); its revisions go on from the deletion's
    return Write([(ann(w["box"]), 0)], ["dataset:annotations:created"], [(w["box"]["id"], "restored")])


def rpc_create(w):
    new = rpc(w["client"], "create", entry_id=w["first"]["id"], dimensions={}, annotation={"label": "sky"})
    return Write([(ann(new), 0)], ["dataset:annotations:created"], [(new["id"], "created")])


def rpc_update(w):
    records = changed(ann(w["box"]), w)
    rpc(w["client"], "update", id=w["box"]["id"], metadata={"v": 3})
    return Write(records, ["dataset:annotations:updated"], [(w["box"]["id"], "updated")])


def rpc_delete(w):
    rpc(w["client"], "delete", id=w["box"]["id"])
    return Write(gone(ann(w["box"])), ["dataset:annotations:deleted"], [(w["box"]["id"], "deleted")])


def rpc_restore(w):
    rpc(w["client"], "update", id=w["box"]["id"], metadata={"v": 3})
    mark(w)
    records = changed(ann(w["box"]), w)
    rpc(w["client"], "restore", id=w["box"]["id"], revision=1)
    return Write(records, ["dataset:annotations:updated"], [(w["box"]["id"], "restored")])


def rpc_batch(w):
    # two creates (written together, the set-based path), an update and a delete: each call's own
    records = changed(ann(w["box"]), w)
    new = {"entry_id": w["first"]["id"], "dimensions": {}}
    calls = [("create", {**new, "annotation": {"label": "a"}}),
             ("create", {**new, "annotation": {"label": "b"}}),
             ("update", {"id": w["box"]["id"], "metadata": {}})]
    batch = [{"jsonrpc": "2.0", "id": n, "method": method, "params": params}
             for n, (method, params) in enumerate(calls, start=1)]
    answers = replies(rpc_post(w["client"], batch))
    a, b = (r["result"]["id"] for r in answers[:2])
    rpc(w["client"], "delete", id=a)
    return Write(records + [(ann({"id": b}), 0)] + gone(ann({"id": a})),
                 ["dataset:annotations:created", "dataset:annotations:created", "dataset:annotations:updated",
                  "dataset:annotations:deleted"],
                 [(a, "created"), (b, "created"), (w["box"]["id"], "updated"), (a, "deleted")])


def create_note_feed(w):
    new = factories.note_feed(w["api"], w["second"])
    return Write([(f"/note_feeds/{new['id']}", 0)], ["dataset:note_feeds:created"])


def _feed(w):
    return f"/note_feeds/{w['feed']['id']}"


def resolve_note_feed(w):
    records = changed(_feed(w), w)
    expect(w["api"].post(f"{_feed(w)}/resolve"), 200)
    return Write(records, ["dataset:note_feeds:resolved"])


def create_note_comment(w):
    new = factories.note_comment(w["api"], w["feed"], content_md="And?")
    return Write([(f"/note_comments/{new['id']}", 0)], ["dataset:note_comments:created"])


def _comment(w):
    return f"/note_comments/{w['comment']['id']}"


# webhooks and their deliveries publish no event (docs/events.md): their versions still move

def create_webhook(w):
    new = w["api"].create("webhooks", project_id=w["project"]["id"], url="http://127.0.0.1:9/other")
    return Write([(f"/webhooks/{new['id']}", 0)], [])


def _hook(w):
    return f"/webhooks/{w['hook']['id']}"


def rotate_webhook_secret(w):
    records = changed(_hook(w), w)
    expect(w["api"].post(f"{_hook(w)}/rotate_secret"), 200)
    return Write(records, [])


def resend_webhook_delivery(w):
    path = f"/webhook_deliveries/{w['delivery']['id']}"
    records = changed(path, w)
    expect(w["api"].post(f"{path}/resend"), 202)
    return Write(records, [])


update_project = updates("update_project", "project", description="d")
delete_project = deletes("delete_project", "project", also=("box",))
update_project_member = updates("update_project_member", "member", name="Ann")
delete_project_member = deletes("delete_project_member", "member")
update_dataset = updates("update_dataset", "dataset", name="Renamed")
delete_dataset = deletes("delete_dataset", "dataset", also=("first",))
update_entry = updates("update_entry", "first", priority=9)
update_annotation = updates("update_annotation", "box", revised=True, metadata={"v": 2})
delete_annotation = deletes("delete_annotation", "box", revised=True)
update_note_feed = updates("update_note_feed", "feed", content_md="Edited")
delete_note_feed = deletes("delete_note_feed", "feed", also=("comment",))
update_note_comment = updates("update_note_comment", "comment", content_md="No.")
delete_note_comment = deletes("delete_note_comment", "comment")
update_webhook = updates("update_webhook", "hook", event=False, description="mine")
delete_webhook = deletes("delete_webhook", "hook", event=False, also=("delivery",))


CASES = {
    "createProject": [create_project], "updateProject": [update_project], "deleteProject": [delete_project],
    "createProjectMember": [create_project_member], "updateProjectMember": [update_project_member],
    "deleteProjectMember": [delete_project_member],
    "createDataset": [create_dataset], "updateDataset": [update_dataset], "deleteDataset": [delete_dataset],
    "importDatasetEntries": [import_dataset_entries],
    "createEntry": [create_entry], "updateEntry": [update_entry], "deleteEntry": [delete_entry],
    "assignEntry": [assign_entry], "selectEntry": [select_entry], "claimNextEntry": [claim_next_entry],
    "submitEntry": [submit_entry], "reportEntryError": [report_entry_error],
    "createAnnotation": [create_annotation], "updateAnnotation": [update_annotation],
    "deleteAnnotation": [delete_annotation],
    "restoreAnnotation": [restore_annotation, restore_deleted_annotation],
    "callAnnotationsRpc": [rpc_create, rpc_update, rpc_delete, rpc_restore],
    "callAnnotationsRpcBatch": [rpc_batch],
    "createNoteFeed": [create_note_feed], "updateNoteFeed": [update_note_feed],
    "deleteNoteFeed": [delete_note_feed], "resolveNoteFeed": [resolve_note_feed],
    "createNoteComment": [create_note_comment], "updateNoteComment": [update_note_comment],
    "deleteNoteComment": [delete_note_comment],
    "createWebhook": [create_webhook], "updateWebhook": [update_webhook], "deleteWebhook": [delete_webhook],
    "rotateWebhookSecret": [rotate_webhook_secret], "resendWebhookDelivery": [resend_webhook_delivery],
}
RPC_CASES = {"create": rpc_create, "update": rpc_update, "delete": rpc_delete, "restore": rpc_restore}


def test_every_write_route_and_method_has_a_case():
    writing = {op["operationId"] for item in spec.document()["paths"].values() for method, op in item.items()
               if method in ("post", "put", "patch", "delete")} | WRITING_GETS
    assert writing == set(CASES)
    assert set(methods.METHODS) - READING_METHODS == set(RPC_CASES)
    assert set(bulk.METHODS) <= set(RPC_CASES)  # the batch's set-based writes: rpc_batch


@pytest.mark.parametrize("case", [c for cases in CASES.values() for c in cases], ids=lambda c: c.__name__)
def test_a_write_moves_the_version_records_its_events_and_keeps_its_revisions(world, case):
    api = world["api"]
    mark(world)
    write = case(world)
    log, kept = world["log"], world["kept"]
    for path, before in write.records:
        now = version(api, path)
        assert now == (None if before is None else before + 1), (path, before, now)
    seen = {e[0] for e in log}
    assert [name for rid, name, _ in events(api) if rid not in seen] == write.events
    new = revisions(api)
    assert sorted(new[rid] for rid in set(new) - set(kept)) == sorted(write.revisions)


def test_the_delivery_worker_moves_the_versions_of_what_it_changes(tmp_path):
    """The worker writes too: a delivery's outcome and its webhook's ``failing_since`` and
    ``last_success_at`` are what the API shows, so their ETags move with them."""
    with hooked(tmp_path, answers=(500,)) as h:
        rid = h.project["id"]
        expect(h.api.patch(f"/projects/{rid}", attrs("projects", rid, name="Owls")), 200)
        delivery = f"/webhook_deliveries/{expect(h.api.get('/webhook_deliveries'), 200)[0]['id']}"
        webhook = f"/webhooks/{h.webhook['id']}"

        def read():
            return [(version(h.api, path), expect(h.api.get(path), 200)["attributes"])
                    for path in (delivery, webhook)]

        shown = read()
        work = worker(tmp_path)
        try:
            for answered, status, failing in ((1, "retrying", True), (2, "succeeded", False)):
                drain(work, until=lambda n=answered: len(h.receiver.received) >= n)
                drain(work)
                (before_d, _), (before_w, _) = shown
                shown = read()
                (now_d, d), (now_w, w) = shown
                assert (d["status"], d["attempts"], now_d) == (status, answered, before_d + 1)
                assert (w["failing_since"] is not None, now_w) == (failing, before_w + 1)
                assert (w["last_success_at"] is not None) == (not failing)
        finally:
            work.close()
