"""Typed values from query-string text: integers, numbers, timestamps, booleans, JSON."""

import json
import math
import re
from datetime import UTC, datetime

TRUE = ("true", "1", "yes", "t")
FALSE = ("false", "0", "no", "f")
INT64 = 2**63 - 1
_INT = re.compile(r"^[+-]?\d{1,19}$")


def to_bool(text):
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError("expected one of true, false, 1, 0, yes, no, t, f")


def to_int(text):
    if not _INT.match(text.strip()) or abs(int(text)) > INT64:
        raise ValueError("expected a 64-bit integer")
    return int(text)


def to_number(text):
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    return value


_LEAP_SECOND = re.compile(r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:)60(?:[.,]\d+)?")


def to_timestamp(text):
    """Parse RFC 3339 / ISO 8601 (a date alone means midnight UTC); return naive UTC.

    A leap second (``23:59:60``, which RFC 3339 allows and no database column holds) is read as
    the last microsecond before it."""
    text = text.strip().replace("z", "Z")
    leap = _LEAP_SECOND.match(text)
    if leap:
        text = f"{leap.group(1)}59.999999{text[leap.end():]}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected an RFC 3339 timestamp such as 2026-11-28T13:53:00Z") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 lies before year 1 in UTC
            value = datetime.min if value.year == 1 else datetime.max
    return value


MAX_DEPTH = 64  # nesting of arrays and objects accepted in bodies and JSON filter values


class BadText(ValueError):
    """Parsed JSON the database cannot store faithfully; ``pointer`` names where."""

    def __init__(self, pointer):
        super().__init__("text may not contain U+0000 or unpaired surrogates")
        self.pointer = pointer


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is too large for a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def parse(text):
    """Parse strict JSON (no NaN/Infinity, finite numbers) with no bound on nesting but Python's
    own (RecursionError); ``loads`` adds the bound. One decoder for every call."""
    return _DECODER.decode(text)


def loads(text, *, check_text=True):
    """Parse strict JSON: no NaN/Infinity, finite numbers, at most MAX_DEPTH levels of nesting.

    Raises ValueError when ``text`` is not such JSON, BadText when a string cannot be stored
    (unless ``check_text`` is false: a request body's text is checked where it is used, since
    members the server ignores, such as ``meta`` and ``links``, may hold any JSON string).
    """
    try:
        value = parse(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if check_text:
        where = bad_text(value, "")
        if where is not None:
            raise BadText(where)
    return value


def depth(value):
    """Nesting depth of ``value`` (iterative, so any depth is safe)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in item)
    return deepest


def to_json(text, kind):
    try:
        value = loads(text)
    except BadText:
        raise
    except ValueError as exc:
        if kind == "array" and text.lstrip().startswith("["):
            raise ValueError(f"not a JSON array: {exc}") from None
        value = None
    if kind == "object" and not isinstance(value, dict):
        raise ValueError('expected a JSON object such as {"key": "value"}')
    if kind == "array":
        return value if isinstance(value, list) else [text]
    return value


CONVERTERS = {
    "id": str, "string": str, "integer": to_int, "number": to_number,
    "timestamp": to_timestamp, "boolean": to_bool,
}


def render_timestamp(value):
    """RFC 3339 UTC with microseconds: 2026-11-28T13:53:00.123456Z."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back text for computed columns
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:  # stored naive UTC: the wall time is what is rendered
        value = value.replace(tzinfo=None)
    # isoformat pads years before 1000 (strftime's %Y does not), and is a third of its cost
    return value.isoformat(timespec="microseconds") + "Z"


def unstorable(text):
    """Whether ``text`` holds U+0000 or an unpaired surrogate, which no database driver takes
    (psycopg2 refuses NUL, sqlite3 lone surrogates): no stored record holds such text."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        return True
    return False


def bad_text(value, pointer):
    """Return the JSON pointer of the first string (or key) holding U+0000 or an unpaired
    surrogate, or None. ``value`` is at most MAX_DEPTH deep (``loads`` checked it)."""
    if isinstance(value, str):
        return pointer if unstorable(value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        step = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if unstorable(str(key)):
            return step
        found = bad_text(item, step)
        if found is not None:
            return found
    return None
