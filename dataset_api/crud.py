"""Generic JSON:API operations over one declared resource: parse, apply rules, write, render.

Each resource's rules come with its declaration (``dataset_api.resources``); this module knows
none of them by name.
"""

from connexion import request

from dataset_api import store
from dataset_api.auth import permissions
from dataset_api.errors import Conflict, PreconditionFailed
from dataset_api.jsonapi import body, build, cursor, document, query
from dataset_api.store import get_or_404

ETAG_HEADER = "ETag"


current_user = permissions.current_user


def query_pairs():
    return list(request.query_params.multi_items())


def cursor_seal():
    """What the caller's ``page[cursor]`` values are sealed with: this app's key, this caller."""
    return cursor.Seal.of(request.state.cursor_key, current_user())


def etag(row, key="id"):
    return f'"{getattr(row, key)}.{row.version}"'


def _headers(resource, row, **extra):
    return {ETAG_HEADER: etag(row, resource.key), **extra}


def render_one(resource, row, q=None, status=200, headers=None):
    q = q or query.Query()
    included, to_many = build.includes(resource, [row], q.include, store.scope)
    doc = document.single(resource, row, q, included, to_many)
    return doc, status, _headers(resource, row, **(headers or {}))


def index(resource, pairs=None, *, item_cursors=False):
    """A page of ``resource`` for the request's query string (or ``pairs`` standing for it);
    ``item_cursors``: paged by cursor, each record carries the cursor of the page after it
    (``meta.page.cursor``), to resume from where a reader stopped (the event log)."""
    pairs = query_pairs() if pairs is None else pairs
    q = query.parse(resource, pairs, seal=cursor_seal())
    rows, has_more, count = store.page(resource, q)
    included, to_many = build.includes(resource, rows, q.include, store.scope)
    doc = document.collection(resource, rows, q, params=pairs, has_more=has_more, count=count,
                              included=included, to_many=to_many,
                              next_cursor=query.next_cursor(resource, q, rows, has_more))
    if item_cursors and q.cursor is not None:
        for row, item in zip(rows, doc["data"], strict=True):
            item["meta"] = {"page": {"cursor": cursor.encode(q.seal, resource, q, q.terms, row)}}
    return doc, 200


def show(resource, resource_id):
    q = query.parse(resource, query_pairs(), collection=False)
    return render_one(resource, get_or_404(resource, resource_id), q)


def create(resource, payload):
    data = payload["data"]
    body.check_type(resource, data)
    with body.pointing_at(resource, data):
        values = body.attributes(resource, data, creating=True)
        row = store.insert(resource, values, current_user(), client_id=data.get("id"))
    return render_one(resource, row, status=201,
                      headers={"Location": f"/{resource.name}/{row.id}"})


def update(resource, resource_id, payload):
    data = payload["data"]
    body.check_type(resource, data)
    if data.get("id") is not None and str(data["id"]) != str(resource_id):
        raise Conflict("data.id does not match the URL.", pointer="/data/id", code="id_mismatch")
    with body.pointing_at(resource, data):
        values = body.attributes(resource, data, creating=False)
        row = store.change(resource, resource_id, values, current_user(), expected_version)
    return render_one(resource, row)


def destroy(resource, resource_id):
    store.remove(resource, resource_id, current_user(), expected_version)
    return None, 204


def expected_version(row):
    """Return the version ``If-Match`` demands (None without the header); 412 if it cannot match."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = [t.strip() for t in header.split(",")]
    if "*" in tags:
        return None
    for tag in tags:
        if tag.startswith('"') and tag.endswith('"'):
            rid, _, version = tag[1:-1].rpartition(".")
            if rid == str(row.id) and version.isascii() and version.isdigit():
                return int(version)
    raise PreconditionFailed("If-Match does not match the current ETag.", code="stale_version",
                             headers={ETAG_HEADER: etag(row)})


def handlers(resource):
    """Return the five Connexion handlers (list, get, create, update, delete) of ``resource``."""

    def list_():
        return index(resource)

    def get(id):
        return show(resource, id)

    def create_(body):
        return create(resource, body)

    def update_(id, body):
        return update(resource, id, body)

    def delete(id):
        return destroy(resource, id)

    return list_, get, create_, update_, delete
