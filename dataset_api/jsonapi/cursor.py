"""Keyset cursors for ``page[cursor]``, sealed with the deployment's key (pure: no peewee, no request).

A cursor is the URL-safe base64 (no padding) of a 16-byte tag followed by compact JSON: the list
of the last row's values for each term of the order (``query.order``, ending with ``id``), or
``{"row": id}`` when those values would not fit in ``MAX_LENGTH`` characters (long text sort
keys), in which case the values are read from that row, within the caller's read scope, when the
cursor is used. The tag is an HMAC-SHA256 (truncated to 128 bits) under the deployment's cursor key
(``DATASET_API_CURSOR_KEY``) of the resource, the sort, the filters, the caller and the JSON: only
this deployment makes cursors, each for one query and one caller, and it holds only values of a
row that caller was shown. A cursor that is forged, garbled, foreign (another resource, sort,
filter set or caller) or stale (another key; a row deleted or no longer readable) is refused with
one and the same error (``REFUSED``), so a refusal tells nothing about other tenants' rows.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import datetime

from dataset_api.jsonapi import values

MAX_LENGTH = 256  # openapi.yaml's PageCursor says the same
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
DIGEST_BYTES = 16
# One message for every refusal: which check failed is nobody's business but the server's.
REFUSED = ("Invalid page[cursor]: it was not made by this server for this query and caller, or it "
           "has expired; start again without it.")
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


def binding(resource, query):
    """The bytes a cursor is bound to: the resource, its sort and its filters (in any order)."""
    filters = sorted(json.dumps([f.parameter, f.value], sort_keys=True, default=str)
                     for f in query.filters)
    return json.dumps([resource.name, query.sort, filters], separators=(",", ":")).encode()


@dataclass(frozen=True)
class Seal:
    """What a cursor is sealed with: the deployment's key and the caller it is made for."""

    key: bytes
    caller: str

    @classmethod
    def of(cls, key, user):
        """The seal of ``user``'s cursors (a ``tokens.User``): its account, role and organizations,
        so that a cursor made for one caller, or for the same account under other rights, fits no
        other."""
        orgs = ",".join(str(org) for org in sorted(user.orgs))
        return cls(key, f"{user.account_id}/{user.role}/{orgs}")


def _digest(seal, resource, query, payload):
    message = b"\n".join([seal.caller.encode(), binding(resource, query), payload])
    return hmac.new(seal.key, message, hashlib.sha256).digest()[:DIGEST_BYTES]


def _kind(resource, name):
    if name == "id":
        return "integer" if resource.id_kind == "integer" else "id"
    if name in resource.position:
        return "integer"
    return resource.attributes[name].kind


def encode(seal, resource, query, terms, row):
    """The cursor of the page after ``row`` under ``query``, ordered by ``terms``, for ``seal``."""
    keys = [_jsonable(getattr(row, name)) for name, _ in terms]
    payload = _compact(keys)
    if resource.position or len(payload) + DIGEST_BYTES > MAX_LENGTH * 3 // 4:
        # a position (an event's transaction) is the server's: the cursor names the row instead
        named = str(getattr(row, resource.key)) if resource.key != "id" else keys[-1]
        payload = _compact({"row": named})
    raw = _digest(seal, resource, query, payload) + payload
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


def decode(seal, resource, query, terms, text):
    """The position a cursor names: a list of sort-key values (aligned with ``terms``, timestamps as
    datetimes) or ``{"row": id}``. Raises ValueError (``REFUSED``) for a cursor that ``seal`` did
    not make for this query."""
    if seal is None or len(text) > MAX_LENGTH or not set(text) <= ALPHABET:
        raise ValueError(REFUSED)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(REFUSED) from None
    digest, payload = raw[:DIGEST_BYTES], raw[DIGEST_BYTES:]
    if not hmac.compare_digest(digest, _digest(seal, resource, query, payload)):
        raise ValueError(REFUSED)
    # Made here for this query and caller: what follows fails only for a cursor of an older
    # release of the format, and is refused alike.
    try:
        position = values.loads(payload.decode("utf-8"))
    except ValueError:
        raise ValueError(REFUSED) from None
    kinds = [_kind(resource, name) for name, _ in terms]
    if isinstance(position, dict) and set(position) == {"row"} \
            and position["row"] is not None and _KINDS[kinds[-1]](position["row"]):
        return position
    if not isinstance(position, list) or len(position) != len(terms) or position[-1] is None \
            or not all(v is None or _KINDS[k](v) for k, v in zip(kinds, position, strict=True)):
        raise ValueError(REFUSED)
    return [values.to_timestamp(v) if k == "timestamp" and v is not None else v
            for k, v in zip(kinds, position, strict=True)]
