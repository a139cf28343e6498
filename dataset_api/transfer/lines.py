"""The import line: what one NDJSON line or CSV record may hold, checked as ``POST /entries`` and
``POST /annotations`` check their attributes (openapi.yaml's ``ImportLine`` says the same), and
turned into the values to store. Pure: no database, no HTTP."""

import json
import re

from dataset_api.jsonapi.values import MAX_DEPTH, bad_text, depth, loads, parse, unstorable

MAX_LINE_BYTES = 1024 * 1024  # one line (or CSV record): a generous entry with its annotations
MAX_ANNOTATIONS = 1000
INT32 = 2**31
# What an export writes besides the importable members: accepted and ignored, so that an export
# can be imported again. Anything else makes the line bad, as an unknown attribute does a body.
ENTRY_IGNORED = frozenset({"id", "wf_step", "status", "assigned_to_id", "submitted_by_id",
                           "reviewed_by_id", "error_message", "created_at", "updated_at"})
ENTRY_MEMBERS = frozenset({"resource", "priority", "job_id", "annotations"}) | ENTRY_IGNORED
ANNOTATION_IGNORED = frozenset({"id", "created_by_email", "created_at", "updated_at"})
ANNOTATION_MEMBERS = frozenset({"dimensions", "annotation", "metadata"}) | ANNOTATION_IGNORED
CSV_COLUMNS = ("resource", "priority", "job_id", "annotations")
# openapi.yaml's pattern for required text: not blank (as str.strip() reads it), no U+0000
_NOT_BLANK = re.compile(r"^[\s\x1c-\x1f\x85\ufeff]*[^\s\x00\x1c-\x1f\x85\ufeff][^\x00]*$")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,10}$")


class BadLine(ValueError):
    """Why a line cannot be imported: ``pointer`` into the line, ``code`` as the API's errors."""

    def __init__(self, detail, pointer="", code="invalid"):
        super().__init__(detail)
        self.detail, self.pointer, self.code = detail, pointer, code


class Line:
    """A checked line: the entry's values and its pre-annotations (None: the line has none;
    ``[]``: it says there are none, which ``on_conflict=update`` applies)."""

    __slots__ = ("resource", "priority", "job_id", "annotations")

    def __init__(self, resource, priority, job_id, annotations):
        self.resource, self.priority, self.job_id, self.annotations = resource, priority, job_id, annotations


def from_json(text):
    """Check one NDJSON line (its text, without the newline)."""
    try:  # the nesting bound applies to the annotations, the one member that nests
        record = parse(text)
    except RecursionError:
        raise BadLine(f"The line is nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise BadLine(f"The line is not JSON: {exc}.", code="parse_error") from None
    if not isinstance(record, dict):
        raise BadLine("The line is not a JSON object.")
    return check(record)


def check(record):
    """Check a parsed line (a JSON object) and return its ``Line``."""
    unknown = record.keys() - ENTRY_MEMBERS
    if unknown:
        name = sorted(unknown)[0]
        raise BadLine(f"Unknown member {name!r}.", _pointer(name))
    resource = record.get("resource")
    if resource is None:
        raise BadLine("resource is required.", "/resource", "required")
    if not isinstance(resource, str) or not _NOT_BLANK.match(resource) or len(resource) > 4096 \
            or unstorable(resource):
        raise BadLine("resource must be a non-blank string of at most 4096 characters without "
                      "U+0000.", "/resource")
    priority = record.get("priority", 0)
    if priority is None:
        priority = 0
    if type(priority) is not int or not -INT32 <= priority < INT32:
        raise BadLine("priority must be a 32-bit integer.", "/priority")
    job_id = record.get("job_id")
    if job_id is not None and (not isinstance(job_id, str) or len(job_id) > 255 or unstorable(job_id)):
        raise BadLine("job_id must be null or a string of at most 255 characters without U+0000.",
                      "/job_id")
    annotations = record.get("annotations")
    if annotations is not None:
        annotations = _annotations(annotations)
    return Line(resource, priority, job_id, annotations)


def _annotations(items):
    if not isinstance(items, list):
        raise BadLine("annotations must be an array.", "/annotations")
    if len(items) > MAX_ANNOTATIONS:
        raise BadLine(f"At most {MAX_ANNOTATIONS} annotations per entry.", "/annotations")
    if depth(items) > MAX_DEPTH - 1:
        raise BadLine(f"annotations are nested deeper than {MAX_DEPTH} levels.", "/annotations")
    checked = []
    for i, item in enumerate(items):
        at = f"/annotations/{i}"
        if not isinstance(item, dict):
            raise BadLine("An annotation is a JSON object.", at)
        unknown = item.keys() - ANNOTATION_MEMBERS
        if unknown:
            raise BadLine(f"Unknown member {sorted(unknown)[0]!r}.", at + _pointer(sorted(unknown)[0]))
        values = {}
        for name, required in (("dimensions", True), ("annotation", True), ("metadata", False)):
            value = item.get(name)
            if value is None and not required:
                value = {}
            if value is None:
                raise BadLine(f"{name} is required.", f"{at}/{name}", "required")
            if not isinstance(value, dict):
                raise BadLine(f"{name} must be a JSON object.", f"{at}/{name}")
            where = bad_text(value, f"{at}/{name}")
            if where is not None:
                raise BadLine("Text may not contain U+0000 or unpaired surrogates.", where)
            values[name] = value
        checked.append(values)
    return checked


def from_csv(row):
    """Check one CSV record, a {column: text} dict: a cell the export guarded (``guard``) is read
    back, an empty ``priority`` is 0, an empty ``job_id`` null, ``annotations`` a JSON array
    (empty: none)."""
    record = {name: unguard(text) for name, text in row.items() if name in CSV_COLUMNS}
    if (text := record.get("priority")) is not None:
        if text.strip() == "":
            record.pop("priority")
        elif not _INTEGER.match(text.strip()):
            raise BadLine("priority must be a 32-bit integer.", "/priority")
        else:
            record["priority"] = int(text)
    if record.get("job_id") == "":
        record["job_id"] = None
    text = record.pop("annotations", None)
    if text:
        try:
            record["annotations"] = loads(text, check_text=False)
        except ValueError as exc:
            raise BadLine(f"annotations is not JSON: {exc}.", "/annotations") from None
    return check(record)


def csv_header(columns):
    """Check the columns a CSV header names; return them."""
    if len(set(columns)) != len(columns):
        raise BadLine("The header names a column twice.")
    unknown = [c for c in columns if c not in ENTRY_MEMBERS]
    if unknown:
        raise BadLine(f"Unknown column {unknown[0]!r}.", _pointer(unknown[0]))
    if columns and "resource" not in columns:
        raise BadLine("The header has no resource column.", "/resource", "required")
    return columns


# OWASP's CSV injection (https://owasp.org/www-community/attacks/CSV_Injection): a spreadsheet
# evaluates a cell that begins with one of these; the export prefixes such a cell with a quote
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_GUARDED = (*FORMULA_STARTS, "'")  # what may follow the prefix: a cell read back loses it


def guard(text):
    """``text`` as a CSV export writes it: prefixed with ``'`` when a spreadsheet would take it
    for a formula, or when it begins with ``'`` and one of those (or another ``'``), so that
    ``unguard`` gives every text back exactly."""
    if text.startswith(FORMULA_STARTS) or text[:1] == "'" and text[1:2].startswith(_GUARDED):
        return "'" + text
    return text


def unguard(text):
    """A CSV cell as the import reads it: ``guard`` undone (a leading ``'`` is dropped only
    before one of the characters it guards, or another ``'``)."""
    return text[1:] if text[:1] == "'" and text[1:2].startswith(_GUARDED) else text


def _pointer(name):
    return "/" + name.replace("~", "~0").replace("/", "~1")


def dump(value):
    """Compact JSON text, as the spool and the database keep it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
