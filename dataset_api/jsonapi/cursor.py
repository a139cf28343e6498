"""Opaque keyset cursors for ``page[cursor]`` (pure: no peewee, no request).

A cursor is the URL-safe base64 (no padding) of a 6-byte digest followed by compact JSON: the
list of the last row's values for each term of the order (``query.order``, ending with ``id``),
or ``{"row": id}`` when those values would not fit in ``MAX_LENGTH`` characters (long text sort
keys), in which case the values are read from that row when the cursor is used. The digest
covers the resource, the sort, the filters and the JSON, so a garbled cursor, or one reused with
another sort or other filters, is refused. It is no signature: whoever forges one only chooses
where a page starts, as a filter could.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
from datetime import datetime

from dataset_api.jsonapi import values

MAX_LENGTH = 256  # openapi.yaml's PageCursor says the same
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
DIGEST_BYTES = 6
# What a cursor's value of each kind of sort key may be (JSON-native), besides null
_KINDS = {
    "integer": lambda v: type(v) is int and abs(v) <= values.INT64,
    "number": lambda v: type(v) in (int, float) and math.isfinite(v),
    "timestamp": lambda v: isinstance(v, str) and _is_timestamp(v),
    "string": lambda v: isinstance(v, str) and not values.unstorable(v),
}
_KINDS["id"] = _KINDS["string"]


def _is_timestamp(text):
    try:
        values.to_timestamp(text)
    except ValueError:
        return False
    return True


def _binding(resource, query):
    """The bytes a cursor is bound to: the resource, its sort and its filters (in any order)."""
    filters = sorted(json.dumps([f.parameter, f.value], sort_keys=True, default=str)
                     for f in query.filters)
    return json.dumps([resource.name, query.sort, filters], separators=(",", ":")).encode()


def _digest(resource, query, payload):
    return hashlib.blake2b(_binding(resource, query) + b"\n" + payload,
                           digest_size=DIGEST_BYTES).digest()


def _kind(resource, name):
    if name == "id":
        return "integer" if resource.id_kind == "integer" else "id"
    return resource.attributes[name].kind


def encode(resource, query, terms, row):
    """The cursor of the page after ``row`` under ``query``, ordered by ``terms``."""
    keys = [_jsonable(getattr(row, name)) for name, _ in terms]
    payload = _compact(keys)
    if len(payload) + DIGEST_BYTES > MAX_LENGTH * 3 // 4:
        payload = _compact({"row": keys[-1]})
    raw = _digest(resource, query, payload) + payload
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


def decode(resource, query, terms, text):
    """The position a cursor names: a list of sort-key values (aligned with ``terms``, timestamps as
    datetimes) or ``{"row": id}``. Raises ValueError for a cursor this query did not make."""
    if len(text) > MAX_LENGTH or not set(text) <= ALPHABET:
        raise ValueError("not a cursor of this API")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a cursor of this API") from None
    digest, payload = raw[:DIGEST_BYTES], raw[DIGEST_BYTES:]
    if not hmac.compare_digest(digest, _digest(resource, query, payload)):
        raise ValueError("it was made for another sort or other filters, or it was altered")
    try:
        position = values.loads(payload.decode("utf-8"))
    except ValueError:
        raise ValueError("not a cursor of this API") from None
    kinds = [_kind(resource, name) for name, _ in terms]
    if isinstance(position, dict) and set(position) == {"row"} \
            and position["row"] is not None and _KINDS[kinds[-1]](position["row"]):
        return position
    if not isinstance(position, list) or len(position) != len(terms) or position[-1] is None \
            or not all(v is None or _KINDS[k](v) for k, v in zip(kinds, position, strict=True)):
        raise ValueError("it does not fit this sort")
    return [values.to_timestamp(v) if k == "timestamp" and v is not None else v
            for k, v in zip(kinds, position, strict=True)]
