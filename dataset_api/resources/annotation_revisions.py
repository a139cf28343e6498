"""Annotation revisions (``/annotation_revisions``, ``/annotations/{id}/revisions``) and the
restore of one (``POST /annotations/{id}/restore``); also JSON-RPC methods (``revisions``,
``restore``). Written by the server (``dataset_api.revisions``), never by a request. Whoever may
read an annotation's entry reads its revisions, also once the annotation is deleted."""

from dataset_api import crud, revisions, store
from dataset_api.db import db
from dataset_api.errors import Invalid, PreconditionFailed
from dataset_api.jsonapi import query
from dataset_api.models import Annotation, AnnotationRevision, Entry
from dataset_api.registry import Attr, Include, Parent, Resource, register
from dataset_api.resources.annotations import ANNOTATIONS
from dataset_api.resources.entries import ENTRIES

# an annotation's revisions, oldest first (its numbers grow with its writes)
BY_NUMBER = "number"


def _visible(user):
    return AnnotationRevision.entry.in_(Entry.select(Entry.id).where(ENTRIES.visible(user)))


ANNOTATION_REVISIONS = register(Resource(
    "annotation_revisions", "dataset:annotation_revisions", AnnotationRevision,
    (
        Attr("annotation_id", "id", readonly=True),
        Attr("entry_id", "id", readonly=True),
        Attr("number", "integer", readonly=True),
        Attr("operation", "string", readonly=True, enum=revisions.OPERATIONS),
        Attr("account_id", "integer", readonly=True, nullable=True),
        Attr("at", "timestamp", readonly=True),
        Attr("dimensions", "object", readonly=True),
        Attr("annotation", "object", readonly=True),
        Attr("metadata", "object", readonly=True),
    ),
    parents={"entry": Parent("entry_id", "entries")},
    includes={"entry": Include("entries", "entry_id")},
    include_paths=("entry",),
    visible=_visible,
    events=False,
    read_only=True,
))

list_annotation_revisions, get_annotation_revision, *_ = crud.handlers(ANNOTATION_REVISIONS)


def _of(annotation_id):
    """The caller's readable revisions of ``annotation_id``; 404 when there are none (every
    annotation has one from its creation: none readable means the caller may not read its entry,
    or there is no such annotation)."""
    value = store.key(ANNOTATIONS, annotation_id)
    select = store.scope(ANNOTATION_REVISIONS, AnnotationRevision.select()) \
        .where(AnnotationRevision.annotation_id == value)
    if value is None or not select.exists():
        raise store.not_found(ANNOTATIONS, annotation_id)
    return select


def history_pairs(annotation_id, pairs=()):
    """The query of an annotation's revisions as ``GET /annotation_revisions`` reads it: filtered on
    the annotation, by number, paged as ``pairs`` say (its cursors continue either route's walk)."""
    return [("filter[annotation_id]", str(annotation_id)), ("sort", BY_NUMBER), *pairs]


def list_annotation_history(id):  # noqa: A002 - the path's name
    """``GET /annotations/{id}/revisions``: a page of the annotation's revisions, oldest first."""
    _of(id)
    return crud.index(ANNOTATION_REVISIONS, history_pairs(id, crud.query_pairs()))


def history(annotation_id, page_parts, count, seal):
    """(rows, query, has_more, count or None): JSON-RPC's page of an annotation's revisions,
    ``page_parts`` and ``count`` as ``query.index`` takes them."""
    _of(annotation_id)
    q = query.index(ANNOTATION_REVISIONS, filters=[("annotation_id", str(annotation_id))], sort=BY_NUMBER,
                    page=page_parts, count=count, seal=seal)
    rows, has_more, total = store.page(ANNOTATION_REVISIONS, q)
    return rows, q, has_more, total


def restore(annotation_id, number, user, precondition=None):
    """Write revision ``number``'s values back to the annotation, through the store as a PATCH
    (or, when the annotation was deleted, a create with its id, on its entry) would; return
    (the row, whether it was brought back). ``precondition`` is the store's (``crud``'s If-Match),
    also asked with None for a deleted annotation. 404 as for its revisions, 422 for an unknown
    number, and whatever the write refuses (403, 409, 412)."""
    with db.atomic():
        target = _of(annotation_id).where(AnnotationRevision.number == number).first()
        if target is None:
            raise Invalid(f"The annotation has no revision {number}.", pointer="/data/attributes/revision")
        values = {"dimensions": target.dimensions, "annotation": target.annotation,
                  "metadata": target.metadata}
        live = Annotation.select(Annotation.id).where(Annotation.id == target.annotation_id).exists()
        with revisions.restoring():
            if live:
                return store.change(ANNOTATIONS, annotation_id, values, user, precondition), False
            if precondition is not None:
                precondition(None)
            values["entry_id"] = target.entry_id
            return store.insert(ANNOTATIONS, values, user, client_id=target.annotation_id), True


def restore_annotation(id, body):  # noqa: A002 - the path's name
    """``POST /annotations/{id}/restore``: 200 with the annotation restored, 201 when it was
    deleted and is back (with its id)."""
    row, back = restore(id, body["data"]["attributes"]["revision"], crud.current_user(), _if_match)
    if back:
        return crud.render_one(ANNOTATIONS, row, status=201, headers={"Location": f"/annotations/{row.id}"})
    return crud.render_one(ANNOTATIONS, row)


def _if_match(row):
    """``crud``'s If-Match rule; for a deleted annotation (no ``row``) any If-Match fails (412):
    no current representation matches it (RFC 9110 §13.1.1)."""
    if row is not None:
        return crud.expected_version(row)
    if crud.request.headers.get("if-match") is not None:
        raise PreconditionFailed("The annotation was deleted: no ETag matches it (If-Match).",
                                 code="stale_version")
    return None
