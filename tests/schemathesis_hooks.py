"""Schemathesis hooks for runs against the served document (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks
st run http://HOST/openapi.json ...``; tests/test_outside_contract.py does exactly that).

They teach the tool the media types openapi.yaml uses beyond plain JSON, so that
every operation is generated and checked instead of skipped as "serialization not possible":
- request bodies: ``application/vnd.api+json`` is JSON; ``application/x-ndjson`` is one JSON value
  per line; ``text/csv`` is a header line and one row per object (DESIGN §10's import formats);
- responses: NDJSON is read back as the array of its lines and CSV as its text, as the export's
  schemas describe them, for the response checks (YAML and JSON are built in).
The document uses no custom string format: JSON filter values are ``content: application/json``
parameters and timestamp lists are ``style: form, explode: false`` arrays, which the tool knows.
"""

import csv
import ctypes
import ctypes.util
import io
import json
import threading
import time

import schemathesis

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


# --- responses -------------------------------------------------------------------------------------

@schemathesis.deserializer("application/x-ndjson")
def read_ndjson(ctx, response):
    # lines end at \n only: str.splitlines() would also split at U+0085 or U+2028, which JSON
    # strings may hold as they are
    return [json.loads(line) for line in response.content.decode("utf-8").split("\n") if line.strip()]


@schemathesis.deserializer("text/csv")
def read_csv(ctx, response):
    return response.content.decode("utf-8")  # the export's CSV: a string, as its schema says


# --- memory ----------------------------------------------------------------------------------------
# For each query it makes invalid, Schemathesis (4.32) canonicalizes the mutated schema with
# jsonschema_rs, whose memory grows with the cube of the query's parameter count: 1.7 GB for the 130
# of GET /entries/next, all of it freed a few seconds later. glibc keeps freed pages, so every such
# peak raised st's resident size, to 12.9 GB over a 7-minute run (docs/design-choices.md, "st's
# resident memory"). Handing the free pages back every second keeps st at its largest single peak.

def _return_free_memory(malloc_trim, interval):
    while True:
        time.sleep(interval)
        malloc_trim(0)


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
if hasattr(_libc, "malloc_trim"):  # glibc only; other allocators give pages back themselves
    threading.Thread(target=_return_free_memory, args=(_libc.malloc_trim, 1.0), daemon=True,
                     name="malloc_trim").start()
