"""Rewrites the ``# BEGIN filters <res>`` blocks of openapi.yaml from dataset_api/resources.py.

Each filter key the server accepts is declared as its own query parameter (so generated
clients can send it). Run after changing an attribute:  python tools/filter_params.py
``--check`` exits 1 when the file is out of date (the test suite runs it).
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataset_api.resources import RESOURCES, filter_keys  # noqa: E402

BOOL = "{type: string, enum: ['true', 'false', '1', '0', 'yes', 'no', 't', 'f']}"
SCHEMAS = {
    "id": "{type: string, maxLength: 255}",
    "string": "{type: string, maxLength: 4096}",
    "integer": "{type: integer, format: int64, minimum: -9223372036854775807, "
               "maximum: 9223372036854775807}",
    "number": "{type: number}",
    "timestamp": "{type: string, maxLength: 64, description: RFC 3339}",
    "object": "{type: string, maxLength: 4096}",
    "array": "{type: string, maxLength: 4096}",
    "boolean": BOOL,
}
WORDS = {
    "": "equals", "eq": "equals", "neq": "differs from (or is null)", "in": "is one of (comma list)",
    "lt": "is less than", "lte": "is at most", "gt": "is greater than", "gte": "is at least",
    "match": "contains, case-insensitive", "prefix": "starts with, case-insensitive",
    "suffix": "ends with, case-insensitive", "exists": "is (true) or is not (false) set",
}


def describe(name, op, kind):
    if kind in ("object", "array") and op == "":
        return f"{name} contains this JSON (object: every given key with that value; array: items)"
    if kind == "integer_list":
        return f"{name} is one of (comma list)"
    return f"{name} {WORDS[op]}"


def schema(op, kind):
    if op == "exists" or kind == "boolean":
        return BOOL
    if op == "in" or kind == "integer_list":
        return "{type: string, maxLength: 8192, description: comma-separated list}"
    return SCHEMAS[kind]


def block(resource, indent):
    lines = []
    for key, (name, op, kind) in filter_keys(resource).items():
        text = describe(name, op, kind).replace('"', "'")
        lines.append(f'{indent}- {{name: "filter[{key}]", in: query, description: "{text}", '
                     f"schema: {schema(op, kind)}}}")
    return lines


def render(text):
    def replace(match):
        indent, res = match.group(1), match.group(2)
        body = "\n".join(block(RESOURCES[res], indent))
        return f"{indent}# BEGIN filters {res}\n{body}\n{indent}# END filters {res}"

    return re.sub(r"^( *)# BEGIN filters (\w+)\n.*?^\1# END filters \2", replace, text,
                  flags=re.S | re.M)


def main(argv):
    path = ROOT / "openapi.yaml"
    text = path.read_text()
    new = render(text)
    if "--check" in argv:
        return 0 if new == text else 1
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
