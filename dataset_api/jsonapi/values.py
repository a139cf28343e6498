"""Typed values from query-string text: integers, numbers, timestamps, booleans, JSON."""

import json
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


def to_timestamp(text):
    """Parse RFC 3339 / ISO 8601 (a date alone means midnight UTC); return naive UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError("expected an RFC 3339 timestamp such as 2026-11-28T13:53:00Z") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 lies before year 1 in UTC
            value = datetime.min if value.year == 1 else datetime.max
    return value


def to_json(text, kind):
    try:
        value = json.loads(text)
    except ValueError:
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
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nul_pointer(value, pointer):
    """Return the JSON pointer of the first string (or key) holding U+0000, or None."""
    if isinstance(value, str):
        return pointer if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        step = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if "\x00" in str(key):
            return step
        found = nul_pointer(item, step)
        if found is not None:
            return found
    return None
