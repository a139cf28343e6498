"""Builders of test data: the one home of the projects, members, datasets, entries, annotations,
note feeds and comments the tests stand on, the workflow moves that put entries in a state, and
the worlds made of them.

Everything is built over HTTP, with the client the test hands in (a ``tests.conftest.Api``, or
any client with its ``create(res, **attributes)`` and ``request(method, path, body)``), so what a
test stands on has passed the same rules, counters and permissions as a client's data. Builders
assert the status they expect and return the JSON:API resource object; parents are given as
resource objects or as ids. The workflow moves return the response: the tests assert on it.
"""

from types import SimpleNamespace

from dataset_api.db import db
from tests.conftest import Api, token


def id_of(record):
    """The id of a resource object, or the id itself."""
    return record["id"] if isinstance(record, dict) else record


def expect(resp, status):
    """Assert ``status`` and return the primary data (None for an empty body)."""
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


def caller(client, account_id, role="user", email=None, orgs=()):
    """A client acting as ``account_id`` (a plain user by default: it acts through its memberships)."""
    return Api(client, token(account_id=account_id, email=email or f"user{account_id}@example.com",
                             role=role, orgs=orgs))


# ---------------------------------------------------------------------------------------- records

def project(api, name="Birds", organization_id=7, **attributes):
    return api.create("projects", name=name, organization_id=organization_id, **attributes)


def member(api, project, account_id, role="annotator", email=None, *, disabled=False, **attributes):
    """A membership of ``account_id`` (email ``user<id>@example.com`` unless given); ``disabled``
    disables it after the create, as an owner would."""
    record = api.create("project_members", project_id=id_of(project), account_id=account_id,
                        email=email or f"user{account_id}@example.com", role=role, **attributes)
    return disable(api, record) if disabled else record


def members(api, project, specs):
    """Memberships from ``(account_id, role, enabled)`` triples; returns them by account id."""
    return {account: member(api, project, account, role, disabled=not enabled)
            for account, role, enabled in specs}


def disable(api, member, at="2026-01-01T00:00:00Z"):
    """PATCH ``disabled_at`` of a membership; return the updated resource object."""
    rid = id_of(member)
    updated = expect(api.request("PATCH", f"/project_members/{rid}", {"data": {
        "type": "dataset:project_members", "id": rid, "attributes": {"disabled_at": at}}}), 200)
    assert updated["attributes"]["disabled_at"] is not None
    return updated


def dataset(api, project, name="Photos", modality="image", *, sample_rate=None, **attributes):
    """A dataset; ``sample_rate`` sets a simple_review workflow with that rate."""
    if sample_rate is not None:
        attributes["workflow_configuration"] = {"type": "simple_review", "sample_rate": sample_rate}
    return api.create("datasets", project_id=id_of(project), name=name, modality=modality, **attributes)


def entry(api, dataset, resource="img.png", **attributes):
    return api.create("entries", dataset_id=id_of(dataset), resource=resource, **attributes)


def entries(api, dataset, count, prefix="img", **attributes):
    """``count`` entries ``<prefix>-<i>.png`` of priority ``i``, in creation order."""
    return [entry(api, dataset, f"{prefix}-{i}.png", **{"priority": i, **attributes})
            for i in range(count)]


def annotation(api, entry, label="bird", **attributes):
    """An annotation ``{"label": label}`` of dimensions ``{"x": 1}`` (either given whole overrides)."""
    return api.create("annotations", entry_id=id_of(entry),
                      **{"dimensions": {"x": 1}, "annotation": {"label": label}, **attributes})


def note_feed(api, entry, content_md="Is this a bird?", annotation=None, **attributes):
    """A note feed on ``entry``, anchored on ``annotation`` when one is given."""
    if annotation is not None:
        attributes["annotation_id"] = id_of(annotation)
    return api.create("note_feeds", entry_id=id_of(entry), content_md=content_md, **attributes)


def note_comment(api, feed, content_md="Yes.", **attributes):
    return api.create("note_comments", note_feed_id=id_of(feed), content_md=content_md, **attributes)


def stored(model, record, **columns):
    """Write ``columns`` the API keeps read-only (progress, …) straight into a record's row."""
    with db.connection_context():
        model.update(**columns).where(model.id == id_of(record)).execute()


# ------------------------------------------------------------------------------- workflow moves

def assign(api, entry, account_id):
    return api.request("PATCH", f"/entries/{id_of(entry)}/assign", {
        "data": {"type": "dataset:entries", "attributes": {"assigned_to_id": account_id}}})


def select(api, entry):
    return api.request("GET", f"/entries/{id_of(entry)}/select")


def submit(api, entry, body=None):
    return api.request("POST", f"/entries/{id_of(entry)}/submit", body)


def error(api, entry, message="corrupt file"):
    attributes = {} if message is None else {"message": message}
    return api.request("POST", f"/entries/{id_of(entry)}/error", {"data": {"attributes": attributes}})


def next_entry(api, dataset, **filters):
    query = "&".join([f"filter[dataset_id]={id_of(dataset)}",
                      *(f"filter[{k}]={v}" for k, v in filters.items())])
    return api.request("GET", f"/entries/next?{query}")


# ---------------------------------------------------------------------------------------- worlds

def tree(api):
    """A project with one dataset, three entries and an annotation on the first entry."""
    birds = project(api)
    photos = dataset(api, birds, labels=["bird", "sky"])
    made = entries(api, photos, 3)
    box = annotation(api, made[0], metadata={"tool": "box"})
    return {"project": birds, "dataset": photos, "entries": made, "annotation": box}


def one_of_each(api, tree):
    """One record of every resource (keyed by resource name) on ``tree``, and ``all_entries``."""
    project, made = tree["project"], tree["entries"]
    annotator = member(api, project, 5, email="ann@example.com")
    # anchored on the annotation: entry-anchored feeds have their own tests in test_resources
    feed = note_feed(api, made[0], annotation=tree["annotation"])
    comment = note_comment(api, feed)
    return {"projects": project, "project_members": annotator, "datasets": tree["dataset"],
            "entries": made[0], "annotations": tree["annotation"], "note_feeds": feed,
            "note_comments": comment, "all_entries": made}


def every_event(api, client, project):
    """Every kind of event docs/events.md lists but a project's create and delete, on ``project``
    (made by the caller of ``api``, an admin): each resource created, updated and deleted, the
    workflow's moves (annotator 5, reviewer 6), a dataset completed, an import, then the dataset
    deleted. Returns the dataset and its three entries."""
    # every resource: created, updated, deleted
    api.patch(
        f"/projects/{project['id']}",
        {"data": {"type": "dataset:projects", "id": project["id"], "attributes": {"description": "d"}}},
    )
    ann = member(api, project, 5, "annotator")
    member(api, project, 6, "reviewer")
    api.patch(
        f"/project_members/{ann['id']}",
        {"data": {"type": "dataset:project_members", "id": ann["id"], "attributes": {"name": "Ann"}}},
    )
    spare = member(api, project, 9, "annotator")
    assert api.delete(f"/project_members/{spare['id']}").status_code == 204
    photos = dataset(api, project, sample_rate=1)
    api.patch(
        f"/datasets/{photos['id']}",
        {"data": {"type": "dataset:datasets", "id": photos["id"], "attributes": {"name": "Renamed"}}},
    )
    first, second, third = entries(api, photos, 3)
    api.patch(
        f"/entries/{third['id']}",
        {"data": {"type": "dataset:entries", "id": third["id"], "attributes": {"priority": 9}}},
    )
    box = annotation(api, first)
    api.patch(
        f"/annotations/{box['id']}",
        {
            "data": {
                "type": "dataset:annotations",
                "id": box["id"],
                "attributes": {"metadata": {"v": 2}},
            }
        },
    )
    feed = note_feed(api, first)
    api.patch(
        f"/note_feeds/{feed['id']}",
        {
            "data": {
                "type": "dataset:note_feeds",
                "id": feed["id"],
                "attributes": {"content_md": "Edited"},
            }
        },
    )
    comment = note_comment(api, feed)
    api.patch(
        f"/note_comments/{comment['id']}",
        {
            "data": {
                "type": "dataset:note_comments",
                "id": comment["id"],
                "attributes": {"content_md": "No."},
            }
        },
    )
    assert api.delete(f"/note_comments/{comment['id']}").status_code == 204
    assert api.post(f"/note_feeds/{feed['id']}/resolve").status_code == 200
    assert api.delete(f"/note_feeds/{feed['id']}").status_code == 204
    assert api.delete(f"/annotations/{box['id']}").status_code == 204
    # the workflow
    annotator, reviewer = caller(client, 5), caller(client, 6)
    assign(api, second, 5)
    assign(api, second, None)
    expect(select(annotator, second), 200)
    expect(submit(annotator, second), 200)  # sampled at rate 1: on to review
    expect(next_entry(reviewer, photos), 200)  # claims it: selected
    expect(submit(reviewer, second, {"data": {"attributes": {"approved": True}}}), 200)
    expect(error(api, first), 200)
    assert api.delete(f"/entries/{third['id']}").status_code == 204  # done: the dataset completes
    # an import
    resp = client.post(
        f"/datasets/{photos['id']}/import",
        content='{"resource": "imp.png"}\n',
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 200, resp.text
    assert api.delete(f"/datasets/{photos['id']}").status_code == 204
    return SimpleNamespace(dataset=photos, first=first, second=second, third=third)


def populate(api, *, projects=1, datasets=2, entries=1, team=(), tag="p"):
    """``projects`` projects of ``datasets`` datasets of ``entries`` pending entries each, every
    entry with an annotation, a note feed on it and a comment on that; ``team`` (``(account_id,
    role, enabled)`` triples) joins every project. Names carry ``tag``, so a test can populate
    again to grow its world. Returns lists of everything made, by resource."""
    made = SimpleNamespace(projects=[], project_members=[], datasets=[], entries=[], annotations=[],
                           note_feeds=[], note_comments=[])
    for p in range(projects):
        home = project(api, f"{tag}{p}", organization_id=7)
        made.projects.append(home)
        made.project_members.extend(members(api, home, team).values())
        for d in range(datasets):
            photos = dataset(api, home, f"{tag}{p}-{d}")
            made.datasets.append(photos)
            for e in range(entries):
                item = entry(api, photos, f"{tag}{p}-{d}-{e}.png", priority=e % 3)
                box = annotation(api, item)
                feed = note_feed(api, item, annotation=box)
                made.entries.append(item)
                made.annotations.append(box)
                made.note_feeds.append(feed)
                made.note_comments.append(note_comment(api, feed))
    return made
