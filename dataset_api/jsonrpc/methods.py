"""The annotation methods of ``POST /annotations/_rpc`` (DESIGN §5): the same rules as the JSON:API
bodies (the params are checked against openapi.yaml's annotation schemas), flat results."""

import json
import logging
import re
from functools import cache

from connexion.json_schema import Draft4RequestValidator
from jsonschema import Draft4Validator

from dataset_api import errors, spec, store
from dataset_api.crud import current_user, cursor_seal
from dataset_api.jsonapi import body, document, query
from dataset_api.jsonapi.values import bad_text
from dataset_api.jsonrpc.protocol import INTERNAL, INVALID_PARAMS, RpcError
from dataset_api.resources import annotation_revisions
from dataset_api.resources.annotation_revisions import ANNOTATION_REVISIONS
from dataset_api.resources.annotations import ANNOTATIONS

log = logging.getLogger("dataset_api.jsonrpc")
MISSING = object()
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CODES = {errors.InvalidQuery: INVALID_PARAMS, errors.Invalid: INVALID_PARAMS, errors.Forbidden: -32003,
         errors.NotFound: -32004, errors.Conflict: -32009, errors.PreconditionFailed: -32009}


@cache
def _validator(creating):
    """A validator of annotation attributes built from openapi.yaml (the single source of truth)."""
    components = spec.document()["components"]
    ref = {"$ref": "#/components/schemas/AnnotationWriteAttributes"}
    schema = {"allOf": [ref, {"required": ["entry_id", "dimensions", "annotation"]}]} if creating else ref
    return Draft4RequestValidator({**schema, "components": components},
                                  format_checker=Draft4Validator.FORMAT_CHECKER)


def _plainly_valid(values, creating):
    """True for create params the schema certainly accepts (a UUID entry_id, objects for the
    rest): they skip the validator, which every other value meets for its exact messages."""
    entry_id = values.get("entry_id")
    return creating and _is_uuid(entry_id) \
        and all(type(value) is dict for name, value in values.items() if name != "entry_id")


def _checked(values, creating):
    problems = [] if _plainly_valid(values, creating) else [
        {"pointer": "/params/" + "/".join(map(str, e.absolute_path)) if e.absolute_path
         else "/params", "detail": e.message}
        for e in _validator(creating).iter_errors(values)]
    problems += _bad_text(values)
    if problems:
        raise RpcError(INVALID_PARAMS, {"errors": problems})
    return body.attributes(ANNOTATIONS, {"attributes": values}, creating=creating)


def _bad_text(params):
    """The error pointing at the first text of ``params`` holding U+0000 or an unpaired surrogate
    (which no database driver takes: an id or a filter value that names nothing), as a list."""
    where = bad_text(params, "/params")
    return [] if where is None else [
        {"pointer": where, "detail": "Text may not contain U+0000 or unpaired surrogates."}]


def _storable(**params):
    """Raise -32602 when a param's text cannot reach the database (see ``_bad_text``)."""
    problems = _bad_text(params)
    if problems:
        raise RpcError(INVALID_PARAMS, {"errors": problems})


def flat(row):
    """The result object of an annotation row: its id and every attribute."""
    return {"id": str(row.id), **document.attributes(ANNOTATIONS, row)}


def _given(**params):
    return {k: v for k, v in params.items() if v is not MISSING}


def show(id):  # noqa: A002
    _storable(id=id)
    return flat(store.get_or_404(ANNOTATIONS, id))


def create(entry_id, dimensions, annotation, metadata=MISSING, id=MISSING):  # noqa: A002
    values, client_id = creation(entry_id, dimensions, annotation, metadata, id)
    return flat(store.insert(ANNOTATIONS, values, current_user(), client_id=client_id))


def creation(entry_id, dimensions, annotation, metadata=MISSING, id=MISSING):  # noqa: A002
    """Return (checked attribute values, client id or None) of a create call; raises -32602."""
    values = _checked(_given(entry_id=entry_id, dimensions=dimensions, annotation=annotation,
                             metadata=metadata), creating=True)
    client_id = None if id is MISSING else id
    if client_id is not None and not _is_uuid(client_id):
        raise RpcError(INVALID_PARAMS, {"errors": [{"pointer": "/params/id", "detail": "Not a UUID."}]})
    return values, client_id


def _is_uuid(value):
    """A UUID in its canonical hyphenated text form (either case)."""
    return type(value) is str and UUID_TEXT.fullmatch(value) is not None


def update(id, dimensions=MISSING, annotation=MISSING, metadata=MISSING):
    _storable(id=id)
    values = _checked(_given(dimensions=dimensions, annotation=annotation, metadata=metadata), False)
    return flat(store.change(ANNOTATIONS, id, values, current_user()))


def delete(id):  # noqa: A002
    _storable(id=id)
    store.remove(ANNOTATIONS, id, current_user())
    return None


def index(filter=None, sort=None, page=None, count=False):  # noqa: A002 - the API's names
    """``{"data": [...], "meta": {...}}`` for the same filters, sort and paging as GET /annotations:
    each param is read as the text of its query parameter, by that parameter's rule."""
    _storable(filter=filter, sort=sort, page=page)
    q = query.index(ANNOTATIONS, filters=_texts(filter, "filter"), sort=_text_unless(sort, (None,)),
                    page=_texts(page, "page"), count=_text_unless(count, (None, False)),
                    seal=cursor_seal())
    rows, has_more, total = store.page(ANNOTATIONS, q)
    return {"data": [flat(r) for r in rows], "meta": _meta(ANNOTATIONS, q, rows, has_more, total)}


def _meta(resource, q, rows, has_more, total):
    """The ``meta`` of a page of ``index`` or ``revisions``."""
    if q.cursor is None:
        meta = {"page": {"number": q.page_number, "size": q.page_size, "has_more": has_more}}
    else:  # paged by cursor: the next page's is page.cursor of the next call
        meta = {"page": {"size": q.page_size, "has_more": has_more,
                         "next_cursor": query.next_cursor(resource, q, rows, has_more)}}
    if total is not None:
        meta["count"] = total
    return meta


def revisions(id, page=None, count=False):  # noqa: A002 - the API's names
    """``{"data": [...], "meta": {...}}``: a page of the annotation's revisions, oldest first, as
    GET /annotations/{id}/revisions pages them (its cursors continue either walk)."""
    _storable(id=id, page=page)
    rows, q, has_more, total = annotation_revisions.history(
        id, _texts(page, "page"), _text_unless(count, (None, False)), cursor_seal())
    return {"data": [{"id": str(r.id), **document.attributes(ANNOTATION_REVISIONS, r)} for r in rows],
            "meta": _meta(ANNOTATION_REVISIONS, q, rows, has_more, total)}


def restore(id, revision):  # noqa: A002
    """The annotation with revision ``revision``'s values, as POST /annotations/{id}/restore."""
    _storable(id=id)
    if type(revision) is not int or revision < 1:
        raise RpcError(INVALID_PARAMS, {"errors": [{"pointer": "/params/revision",
                                                    "detail": "'revision' must be an integer, at least 1."}]})
    return flat(annotation_revisions.restore(id, revision, current_user())[0])


def _texts(value, name):
    """The (member, text) pairs of the object param ``name``; -32602 unless it is an object."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, {"errors": [{"pointer": f"/params/{name}",
                                                    "detail": f"'{name}' must be an object."}]})
    return [(member, _text(item)) for member, item in value.items()]


def _text_unless(value, absent):
    """``_text(value)``, or None (the param is left out) when ``value`` equals one of ``absent``."""
    return None if value in absent else _text(value)


def _text(value):
    """The query-string text of a param's value: a list is the comma form, an object its JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


METHODS = {"show": show, "create": create, "update": update, "delete": delete, "index": index,
           "revisions": revisions, "restore": restore}
READS = frozenset({"show", "index", "revisions"})  # methods that never write


def translate(exc):
    """Map a failure inside a method to its JSON-RPC error (no details for the unexpected)."""
    for kind, code in CODES.items():
        if isinstance(exc, kind):
            data = {"errors": [_param_error(e) for e in exc.errors]} if code == INVALID_PARAMS \
                else {"detail": exc.errors[0]["detail"]}
            return RpcError(code, data)
    log.error("JSON-RPC method failed", exc_info=exc)
    return RpcError(INTERNAL)


def _param_error(error):
    source = error.get("source", {})
    out = {"detail": error["detail"]}
    if "pointer" in source:
        out["pointer"] = source["pointer"].replace("/data/attributes/", "/params/").replace(
            "/data/", "/params/")
    elif "parameter" in source:
        out["parameter"] = source["parameter"]
    return out
