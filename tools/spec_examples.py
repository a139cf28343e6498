"""Rewrites the ``# BEGIN examples`` block of openapi.yaml (``components/examples``) from a real
first session against the app: every request body example is one the server accepted, every
response example is what it answered.

Ids and timestamps are replaced by fixed ones (in order of appearance), so the output is the same
on every run and the test suite can check that it is current (``--check`` exits 1 when not).
Run after changing a resource's attributes or rendering:  python tools/spec_examples.py
"""

import base64
import json
import re
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "examples-" + "0" * 32
MEDIA = "application/vnd.api+json"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
ETAG_VERSION = re.compile(r'"(\w{8}-[\w-]+)\.\d+"')
SIGNING_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]+=*")  # random on every run
CURSOR = re.compile(r'("(?:cursor|next_cursor)": "|page%5Bcursor%5D=)([A-Za-z0-9_-]{22,})')


class Session:
    """Records (name, body) examples from requests against an in-process app."""

    def __init__(self, client, token):
        self.client, self.examples = client, {}
        self.headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA}

    def call(self, method, path, body=None, name=None, request_name=None, status=200, content_type=MEDIA,
             example=None):
        """Send ``body`` (JSON, or text as it is); record it (or ``example``, what the schema
        describes of a text body) as ``request_name`` and the answer as ``name``."""
        headers = dict(self.headers, **({"Content-Type": content_type} if body is not None else {}))
        content = body if isinstance(body, str) or body is None else json.dumps(body)  # str: as sent
        resp = self.client.request(method, path, headers=headers, content=content)
        if resp.status_code != status:
            sys.exit(f"{method} {path} -> {resp.status_code}: {resp.text}")
        if request_name:
            self.examples[request_name] = body if example is None else example
        if name:
            self.examples[name] = resp.json()
        return resp.json() if resp.content else None

    def create(self, res, name, attributes):
        body = {"data": {"type": f"dataset:{res}", "attributes": attributes}}
        return self.call("POST", f"/{res}", body, f"{name}Document", f"{name}Create", 201)["data"]

    def update(self, res, name, row, attributes):
        body = {"data": {"type": f"dataset:{res}", "id": row["id"], "attributes": attributes}}
        return self.call("PATCH", f"/{res}/{row['id']}", body, f"{name}Document", f"{name}Update")

    def collection(self, res, name, query):
        self.call("GET", f"/{res}?{query}", name=f"{name}Collection")


def first_session(s):
    """The README's first session, one example per body and answer."""
    project = s.create(
        "projects",
        "Project",
        {"name": "Birds", "description": "Bird photos from the 2026 survey.", "organization_id": 1},
    )
    s.update("projects", "Project", project, {"description": "Bird photos from the 2026 spring survey."})
    hook = s.call("POST", "/webhooks", {"data": {"type": "dataset:webhooks", "attributes": {
        "project_id": project["id"], "url": "https://hooks.example.com/dataset-api",
        "events": ["dataset:entries:submitted", "dataset:entries:reviewed", "dataset:projects:updated"],
        "description": "Review queue notifier"}}}, "WebhookCreated", "WebhookCreate", 201)["data"]
    member = s.create(
        "project_members",
        "ProjectMember",
        {
            "project_id": project["id"],
            "account_id": 7,
            "name": "Ada Annotator",
            "email": "ada@example.com",
            "role": "annotator",
        },
    )
    s.update("project_members", "ProjectMember", member, {"name": "Ada A. Annotator"})
    dataset = s.create(
        "datasets",
        "Dataset",
        {
            "project_id": project["id"],
            "name": "Photos",
            "modality": "image",
            "labels": ["bird", "nest"],
            "labeling_configuration": {
                "categories": [{"id": "bird", "label": "Bird"}, {"id": "nest", "label": "Nest"}]
            },
            "workflow_configuration": {"type": "simple_review", "sample_rate": 1},
        },
    )
    s.update("datasets", "Dataset", dataset, {"labels": ["bird", "nest", "egg"]})
    entry = s.create(
        "entries",
        "Entry",
        {
            "dataset_id": dataset["id"],
            "resource": "s3://birds/0001.jpg",
            "priority": 5,
            "job_id": "upload-2026-11-28",
        },
    )
    s.update("entries", "Entry", entry, {"priority": 9})
    annotation = s.create(
        "annotations",
        "Annotation",
        {
            "entry_id": entry["id"],
            "dimensions": {"x": 10, "y": 20, "w": 50, "h": 40},
            "annotation": {"label": "bird"},
            "metadata": {"tool": "box"},
        },
    )
    s.update("annotations", "Annotation", annotation, {"annotation": {"label": "bird", "species": "robin"}})
    feed = s.create(
        "note_feeds",
        "NoteFeed",
        {"entry_id": entry["id"], "anchor_type": "entry", "content_md": "Is this a **robin** or a finch?"},
    )
    s.update("note_feeds", "NoteFeed", feed, {"content_md": "Is this a **robin** or a chaffinch?"})
    comment = s.create(
        "note_comments",
        "NoteComment",
        {"note_feed_id": feed["id"], "content_md": "A robin: see the red breast."},
    )
    s.update("note_comments", "NoteComment", comment, {"content_md": "A robin: see the orange-red breast."})
    for res, name in (
        ("projects", "Project"),
        ("project_members", "ProjectMember"),
        ("datasets", "Dataset"),
        ("annotations", "Annotation"),
        ("note_feeds", "NoteFeed"),
        ("note_comments", "NoteComment"),
    ):
        s.collection(res, name, "count=true&page[size]=10")
    s.collection(
        "entries", "Entry", f"filter[dataset_id]={dataset['id']}&sort=-priority&count=true&page[size]=10"
    )
    workflow(s, project, dataset, entry, annotation, feed)
    webhooks(s, hook)
    revisions(s, dataset)


def webhooks(s, hook):
    """The webhook made at the start (its deliveries are the session's events it wanted), changed,
    its secret rotated; its deliveries, one of them re-sent."""
    path = f"/webhooks/{hook['id']}"
    s.call("PATCH", path, {"data": {"type": "dataset:webhooks", "id": hook["id"], "attributes": {
        "events": ["dataset:entries:submitted", "dataset:entries:reviewed", "dataset:datasets:completed"]}}},
        "WebhookUpdated", "WebhookUpdate")
    s.call("POST", f"{path}/rotate_secret", name="WebhookSecretRotated")
    s.call("GET", path, name="WebhookDocument")
    s.collection("webhooks", "Webhook", "count=true&page[size]=10")
    deliveries = s.call("GET", f"/webhook_deliveries?filter[webhook_id]={hook['id']}&sort=created_at"
                               "&count=true&page[size]=2", name="WebhookDeliveryCollection")["data"]
    delivery = f"/webhook_deliveries/{deliveries[0]['id']}"
    s.call("GET", delivery, name="WebhookDeliveryDocument")
    s.call("POST", f"{delivery}/resend", name="WebhookDeliveryResent", status=202)


def revisions(s, dataset):
    """An annotation drawn, corrected and deleted on an entry of its own; its revisions, then two
    restores: the deleted annotation back (201), then its first values again (200)."""
    entry = s.call("POST", "/entries", {"data": {"type": "dataset:entries", "attributes": {
        "dataset_id": dataset["id"], "resource": "s3://birds/0010.jpg"}}}, status=201)["data"]
    note = s.call("POST", "/annotations", {"data": {"type": "dataset:annotations", "attributes": {
        "entry_id": entry["id"], "dimensions": {"x": 10, "y": 20, "w": 50, "h": 40},
        "annotation": {"label": "bird"}}}}, status=201)["data"]
    path = f"/annotations/{note['id']}"
    s.call("PATCH", path, {"data": {"type": "dataset:annotations", "id": note["id"], "attributes": {
        "dimensions": {"x": 12, "y": 20, "w": 48, "h": 40}}}})
    s.call("DELETE", path, status=204)
    found = s.call("GET", f"{path}/revisions?page[size]=10", name="AnnotationRevisionCollection")
    s.call("GET", f"/annotation_revisions/{found['data'][1]['id']}", name="AnnotationRevisionDocument")
    s.call("POST", f"{path}/restore", {"data": {"attributes": {"revision": 2}}}, "AnnotationBroughtBack",
           status=201)
    s.call("POST", f"{path}/restore", {"data": {"attributes": {"revision": 1}}}, "AnnotationRestored",
           "RestoreRequest")


def workflow(s, project, dataset, entry, annotation, feed):
    s.call(
        "PATCH",
        f"/entries/{entry['id']}/assign",
        {"data": {"attributes": {"assigned_to_id": 7}}},
        "EntryAssigned",
        "AssignRequest",
    )
    s.call("PATCH", f"/entries/{entry['id']}/assign", {"data": {"attributes": {"assigned_to_id": None}}})
    s.call("GET", f"/entries/next?filter[dataset_id]={dataset['id']}", name="EntryClaimed")
    s.call("GET", f"/entries/{entry['id']}/select", name="EntrySelected")
    s.call(
        "POST",
        f"/entries/{entry['id']}/submit",
        {"data": {"attributes": {}}},
        "EntrySubmitted",
        "SubmitRequest",
    )
    s.call(
        "POST",
        f"/entries/{entry['id']}/submit",
        {"data": {"attributes": {"approved": True}}},
        "EntryReviewed",
        "ReviewRequest",
    )
    second = s.create(
        "entries", "SecondEntry", {"dataset_id": dataset["id"], "resource": "s3://birds/0002.jpg"}
    )
    s.call("GET", f"/entries/{second['id']}/select")
    s.call(
        "POST",
        f"/entries/{second['id']}/error",
        {"data": {"attributes": {"message": "The file is corrupt."}}},
        "EntryErrored",
        "ErrorRequest",
    )
    s.call(
        "POST",
        f"/note_feeds/{feed['id']}/resolve",
        {"data": {"type": "dataset:note_feeds", "id": feed["id"]}},
        "NoteFeedResolved",
        "ResolveRequest",
    )
    rpc = [
        {
            "jsonrpc": "2.0",
            "method": "create",
            "id": 1,
            "params": {
                "entry_id": second["id"],
                "dimensions": {"x": 5, "y": 5, "w": 20, "h": 20},
                "annotation": {"label": "nest"},
            },
        },
        {"jsonrpc": "2.0", "method": "index", "id": 2, "params": {"filter": {"entry_id": second["id"]}}},
        {"jsonrpc": "2.0", "method": "delete", "id": 3, "params": {"id": annotation["id"]}},
        {"jsonrpc": "2.0", "method": "shout", "id": 4, "params": {}},
    ]
    s.call(
        "POST",
        "/annotations/_rpc",
        rpc,
        "RpcBatchReplies",
        "RpcBatchRequest",
        content_type="application/json",
    )
    for name in [n for n in s.examples if n.startswith("SecondEntry")]:
        del s.examples[name]
    activity = s.call("GET", f"/events?filter[entry_id]={entry['id']}&filter[name__prefix]=dataset:entries:"
                             "&page[cursor]=&page[size]=3", name="EventCollection")["data"]
    s.call("GET", f"/events/{activity[0]['id']}", name="EventDocument")
    imports(s, dataset)


def imports(s, dataset):
    """An NDJSON import with a pre-annotation, a CSV one that meets an existing resource, a
    partial one and a refused one."""
    path = f"/datasets/{dataset['id']}/import"
    lines = [
        {"resource": "s3://birds/0003.jpg", "priority": 2, "job_id": "upload-2026-11-29",
         "annotations": [{"dimensions": {"x": 4, "y": 8, "w": 30, "h": 24},
                          "annotation": {"label": "bird"}}]},
        {"resource": "s3://birds/0004.jpg", "job_id": "upload-2026-11-29"},
    ]
    ndjson = "".join(json.dumps(line) + "\n" for line in lines)
    s.call("POST", path, ndjson, "ImportResult", "ImportNdjson", content_type="application/x-ndjson",
           example=lines)
    rows = [{"resource": "s3://birds/0004.jpg", "priority": 1, "job_id": "upload-2026-11-30"},
            {"resource": "s3://birds/0005.jpg", "priority": 0, "job_id": "upload-2026-11-30",
             "annotations": [{"dimensions": {"x": 1, "y": 2, "w": 3, "h": 4},
                              "annotation": {"label": "nest"}}]}]
    csv_text = ('resource,priority,job_id,annotations\n'
                's3://birds/0004.jpg,1,upload-2026-11-30,\n'
                's3://birds/0005.jpg,0,upload-2026-11-30,"[{""dimensions"": {""x"": 1, ""y"": 2, '
                '""w"": 3, ""h"": 4}, ""annotation"": {""label"": ""nest""}}]"\n')
    s.call("POST", path + "?on_conflict=skip", csv_text, request_name="ImportCsv", content_type="text/csv",
           example=rows)
    bad = '{"resource": "s3://birds/0006.jpg"}\n{"resource": "s3://birds/0007.jpg", "priority": "high"}\n'
    s.call("POST", path + "?partial=true", bad, "ImportPartial", content_type="application/x-ndjson")
    s.call("POST", path, bad.replace("0006", "0008").replace("0007", "0009"), "ImportRefused",
           content_type="application/x-ndjson", status=422)
    exports(s, dataset)


def exports(s, dataset):
    """The dataset exported: every entry as NDJSON (recorded as the array of its lines, as the
    schema describes it), those waiting at annotate as CSV (picked by Accept), and COCO."""
    path = f"/datasets/{dataset['id']}/export"
    for name, query, accept in (("ExportJsonl", "?format=jsonl", "application/x-ndjson"),
                                ("ExportCsv", "?filter[wf_step]=annotate", "text/csv"),
                                ("ExportCoco", "?format=coco", "application/json")):
        resp = s.client.get(path + query, headers=dict(s.headers, Accept=accept))
        if resp.status_code != 200:
            sys.exit(f"GET {path}{query} -> {resp.status_code}: {resp.text}")
        s.examples[name] = {"ExportJsonl": lambda text: [json.loads(line) for line in text.splitlines()],
                            "ExportCsv": str, "ExportCoco": json.loads}[name](resp.text)


def normalised(examples):
    """Fixed ids (in order of appearance), timestamps and versions, so that runs agree."""
    text, ids = json.dumps(examples), {}

    def fixed(match):
        ids.setdefault(match.group(0), f"0193a1b2-{len(ids) + 1:04x}-7000-8000-000000000000")
        return ids[match.group(0)]

    text = UUID.sub(fixed, text)
    text = STAMP.sub("2026-11-28T13:53:00.123456Z", text)
    text = SIGNING_SECRET.sub("whsec_c2hvd24gb25jZSwgd2hlbiBtYWRlOyBuZXZlciBhZ2Fpbi4uLi4=", text)
    text = CURSOR.sub(lambda m: m.group(1) + unsealed(m.group(2), fixed), text)
    return json.loads(text)


def unsealed(text, fixed):
    """A cursor with a zero tag (its seal binds the session's random ids) holding what it held,
    its ids fixed as the rest (``fixed``)."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    payload = UUID.sub(fixed, raw[16:].decode()).encode()
    return base64.urlsafe_b64encode(bytes(16) + payload).rstrip(b"=").decode()


def render(examples):
    lines = []
    for name in sorted(examples):
        value = json.dumps(examples[name], ensure_ascii=False)
        lines += [f"    {name}:", f"      summary: {name} (from a real session)", f"      value: {value}"]
    return "\n".join(lines)


def collect():
    from dataset_api.app import create_app
    from dataset_api.auth import tokens
    from dataset_api.config import Config
    from dataset_api.db import db

    with tempfile.TemporaryDirectory() as tmp:
        config = Config(data_dir=tmp, jwt_secret=SECRET, cursor_key=SECRET, validate_responses=True)
        app = create_app(config)
        token = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
        try:
            with app.test_client() as client:
                session = Session(client, token)
                first_session(session)
        finally:
            db.obj.close_all()
    return normalised(session.examples)


def rewrite(text, block):
    return re.sub(
        r"^  # BEGIN examples\n.*?^  # END examples\n",
        lambda _: f"  # BEGIN examples\n{block}\n  # END examples\n",
        text,
        flags=re.M | re.S,
    )


def main(argv):
    from dataset_api import spec

    path = spec.PATH.resolve()  # the package links to the repository's document: rewrite that
    text = path.read_text()
    new = rewrite(text, render(collect()))
    yaml.load(new, yaml.CSafeLoader)  # still YAML (LibYAML: 5x faster than safe_load)
    if "--check" in argv:
        return 0 if new == text else 1
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
