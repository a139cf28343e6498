"""Schemathesis hooks for runs against the served document (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks
st run http://HOST/openapi.json ...``; tests/test_outside_contract.py does exactly that), and for the
runs in process (tests/test_contract.py imports this module).

They teach the tool the media types openapi.yaml uses beyond plain JSON, so that
every operation is generated and checked instead of skipped as "serialization not possible":
- request bodies: ``application/vnd.api+json`` is JSON; ``application/x-ndjson`` is one JSON value
  per line; ``text/csv`` is a header line and one row per object (DESIGN §10's import formats);
- responses: NDJSON is read back as the array of its lines, CSV and the event stream as their
  text, as their schemas describe them, for the response checks (YAML and JSON are built in);
- the event stream is read with follow=false, so that it ends (see below).
- string formats: ``json`` (the JSON filter values, ``filter[metadata]={"k": 1}``) is JSON object
  text, so that generated filters reach the containment query and not only the 400 for text that
  is not JSON (which the document allows: it is a plain string to every tool that does not know
  the format). Timestamp lists are ``style: form, explode: false`` arrays, which the tool knows.
"""

import csv
import ctypes
import ctypes.util
import io
import json
import threading
import time

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st

# --- request bodies --------------------------------------------------------------------------------

schemathesis.serializer.alias("application/vnd.api+json", "application/json")


def _rows(value):
    """A generated body as a list of rows (a single value is one row)."""
    return value if isinstance(value, list) else [value]


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if value is None:
        return None
    return "".join(json.dumps(row) + "\n" for row in _rows(value)).encode()


@schemathesis.serializer("text/csv")
def csv_body(ctx, value):
    if value is None:
        return None
    if isinstance(value, (str, bytes)):  # a schema of type string: the CSV text itself
        return value if isinstance(value, bytes) else value.encode()
    rows = [row if isinstance(row, dict) else {"value": row} for row in _rows(value)]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    return out.getvalue().encode()


# --- string formats --------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=10)  # the server refuses U+0000
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6)
schemathesis.openapi.format("json", st.dictionaries(_TEXT, _JSON_VALUES, max_size=3).map(json.dumps))


# --- responses -------------------------------------------------------------------------------------

@schemathesis.deserializer("application/x-ndjson")
def read_ndjson(ctx, response):
    # lines end at \n only: str.splitlines() would also split at U+0085 or U+2028, which JSON
    # strings may hold as they are
    return [json.loads(line) for line in response.content.decode("utf-8").split("\n") if line.strip()]


@schemathesis.deserializer("text/csv")
def read_csv(ctx, response):
    return response.content.decode("utf-8")  # the export's CSV: a string, as its schema says


@schemathesis.deserializer("text/event-stream")
def read_event_stream(ctx, response):
    return response.content.decode("utf-8")  # the event stream: a string, as its schema says


# --- the event stream ------------------------------------------------------------------------------
# GET /events/stream keeps its answer open for what comes (follow, true by default) until the
# client leaves: a request with it would never end. The documented way a script or a contract test
# reads it is follow=false (the events in the log, then the end), which replaces a follow the
# server would take as true (absent, or "true" in any case); every other value, valid or not, is
# sent as generated (false, or what the server refuses with 400).

@schemathesis.hook("map_query").apply_to(path="/events/stream")
def replay_the_event_stream(ctx, query):
    query = dict(query or {})
    follow = query.get("follow", True)
    if follow is True or (isinstance(follow, str) and follow.lower() == "true"):
        query["follow"] = False
    return query


# --- memory ----------------------------------------------------------------------------------------
# For each query it makes invalid, Schemathesis (4.32) canonicalizes the mutated schema with
# jsonschema_rs (0.60), `{properties: P, not: {additionalProperties: false, properties: P,
# required: [...]}}`. With `required` inside the `not` that costs time and memory cubic in the
# parameter count: 15 s and 1.7 GB for the 130 of GET /entries/next, freed on return but kept by
# glibc, so st grew to 12.9 GB over a 7-minute run (docs/design-choices.md, "st's resident memory",
# with the upstream report). Two workarounds, neither changing what a schema admits:
# - `not` over a conjunction is the disjunction of the `not`s, and `required` reads no other keyword,
#   so `not {..., required: R}` is spelled `allOf: [{anyOf: [not {...}, not {required: R}]}]`,
#   which jsonschema_rs canonicalizes in milliseconds (Draft 4 ignores a `$ref`'s siblings, so a
#   `not` holding one is left as it is);
# - the free heap goes back to the system every second (glibc only).
# And Schemathesis keeps what it builds for each operation it tests until the run (or the pytest
# test, in process: one test runs every operation as a subtest) ends: both suites run the document
# in ``batches`` of at most 5 operations, one st run or one pytest test each.

def _split_required(schema):
    """``schema`` with its own ``not`` over ``required`` and other keywords split as above (the
    shape Schemathesis builds; nested schemas and the values of ``enum`` and the like stay as they are)."""
    negated = schema.get("not") if isinstance(schema, dict) else None
    if not isinstance(negated, dict) or "required" not in negated or len(negated) == 1 or "$ref" in negated:
        return schema
    rest = {key: value for key, value in negated.items() if key != "required"}
    split = {"anyOf": [{"not": rest}, {"not": {"required": negated["required"]}}]}
    out = {key: value for key, value in schema.items() if key != "not"}
    out["allOf"] = [*out.get("allOf", []), split]
    return out


def _canonicalize_split(canonicalize):
    def wrapper(schema, *args, **kwargs):
        return canonicalize(_split_required(schema), *args, **kwargs)
    return wrapper


jsonschema_rs.canonicalize = _canonicalize_split(jsonschema_rs.canonicalize)


def _return_free_memory(malloc_trim, interval):
    while True:
        time.sleep(interval)
        malloc_trim(0)


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
if hasattr(_libc, "malloc_trim"):  # glibc only; other allocators give pages back themselves
    threading.Thread(target=_return_free_memory, args=(_libc.malloc_trim, 1.0), daemon=True,
                     name="malloc_trim").start()


MAX_OPERATIONS = 5
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def batches(document, most=MAX_OPERATIONS):
    """The document's paths in order, in batches of at most ``most`` operations (a path with more
    is a batch of its own): [(paths, operation count)]."""
    packed, size = [[]], 0
    for path, item in document["paths"].items():
        n = sum(method in item for method in METHODS)
        if size + n > most and packed[-1]:
            packed.append([])
            size = 0
        packed[-1].append(path)
        size += n
    return [(paths, sum(sum(m in document["paths"][p] for m in METHODS) for p in paths)) for paths in packed]
