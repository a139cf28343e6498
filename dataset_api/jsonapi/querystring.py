"""Normalises the reference clients' bracket forms before Connexion validates the query string.

``included[]=a&included[]=b`` -> ``included=a,b``; ``fields[T][]=a`` -> ``fields[T]=a``;
``filter[x][]=a`` and ``filter[x__in][]=a`` -> ``filter[x__in]=a`` (DESIGN §3).
Repeated list keys, as generated clients send arrays (``included=a&included=b``,
``fields[T]=a&fields[T]=b``, ``filter[x__in]=a&filter[x__in]=b``), mean the comma form too; any
other repeated key is a 400.
"""

import re
from urllib.parse import parse_qsl, urlencode

from dataset_api.errors import InvalidQuery

_KEY = re.compile(r"^[A-Za-z_]+(\[[^\[\]]+\])?$")
_LIST_SUFFIX = "[]"
_LIST_KEYS = ("included", "include", "fields")


def is_list(key):
    """Whether ``key`` takes a comma list, so that repeating it adds values."""
    return key in _LIST_KEYS or key.startswith("fields[") or \
        key.startswith("filter[") and key.endswith("__in]")


def normalise(raw):
    """Return the normalised query string for ``raw`` (bytes); raise ``InvalidQuery``."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict",
                          encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        raise InvalidQuery("The query string is not valid UTF-8 / URL encoding.") from None
    merged, order = {}, []
    for key, value in pairs:
        listed = key.endswith(_LIST_SUFFIX)
        if listed:
            key = key[: -len(_LIST_SUFFIX)]
            if key.startswith("filter[") and key.endswith("]") and not key.endswith("__in]"):
                key = key[:-1] + "__in]"
        if "\x00" in value:  # PostgreSQL cannot hold U+0000; no stored text contains it
            raise InvalidQuery(f"'{key}' contains a NUL character.", parameter=key)
        if not _KEY.match(key):
            raise InvalidQuery(f"Malformed query parameter '{key}'.", parameter=key)
        listed = listed or is_list(key)
        if key in merged:
            if not (listed and merged[key][0]):
                raise InvalidQuery(f"Query parameter '{key}' is given more than once.",
                                   parameter=key, code="repeated_parameter")
            merged[key][1].append(value)
        else:
            merged[key] = (listed, [value])
            order.append(key)
    return urlencode([(k, ",".join(merged[k][1])) for k in order]).encode()
