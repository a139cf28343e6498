"""Rewrites the generated blocks of openapi.yaml from dataset_api/resources.py.

The rest of openapi.yaml is written by hand; these blocks list names that must equal the
declarations exactly, so they are derived from them:
- ``# BEGIN filters <res>``: the index's ``sort``, ``fields`` and every ``filter[...]`` key the
  server accepts, each its own query parameter (so generated clients can send it);
- ``# BEGIN show <res>``: the show's plain ``fields``;
- ``# BEGIN next-filters entries``: ``GET /entries/next``'s fields and filters (dataset required);
- ``# BEGIN fields-types``: one ``fields[TYPE]`` parameter per type.
Names are spelled out in patterns so that whatever matches the schema is accepted.
Run after changing an attribute:  python tools/filter_params.py
``--check`` exits 1 when the file is out of date (the test suite runs it).
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataset_api.resources import RESOURCES, filter_keys  # noqa: E402

INT = r"[-+]?[0-9]{1,18}"
NUMBER = r"[-+]?[0-9]{1,15}([.][0-9]{1,15})?"

BOOL = "{type: string, enum: ['true', 'false', '1', '0', 'yes', 'no', 't', 'f']}"
SCHEMAS = {
    "id": "{type: string, maxLength: 255}",
    "string": "{type: string, maxLength: 4096}",
    "integer": "{type: integer, format: int64, minimum: -9223372036854775807, "
               "maximum: 9223372036854775807}",
    "number": "{type: number}",
    "timestamp": "{type: string, format: date-time, description: RFC 3339}",
    "object": "{type: string, format: json-object, maxLength: 4096, description: 'a JSON object (strict"
              " JSON: no NaN or Infinity, at most 64 levels deep, no U+0000 or unpaired surrogates in"
              " text; else 400)'}",
    "array": "{type: string, maxLength: 4096, description: 'one item, or a JSON array of items'}",
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
    if kind in ("integer", "integer_list") and op == "in" or kind == "integer_list":
        return f"{{type: string, pattern: '^{INT}(,{INT})*$', description: comma-separated list}}"
    if op == "in" and kind == "number":
        return f"{{type: string, pattern: '^{NUMBER}(,{NUMBER})*$', description: comma-separated list}}"
    if op == "in" and kind == "timestamp":
        return ("{type: string, minLength: 1, format: date-time-list,"
                " description: comma-separated RFC 3339 list (at least one)}")
    if op == "in":
        return "{type: string, maxLength: 8192, description: comma-separated list}"
    return SCHEMAS[kind]


def names_pattern(names, sign=""):
    alt = "|".join(names)
    return f"'^{sign}({alt})(,{sign}({alt}))*$'"


def sort_param(resource, indent):
    names = ["id", *[a.name for a in resource.attrs if a.sortable]]
    return (f"{indent}- {{name: sort, in: query, description: 'Comma-separated attributes, - for "
            f"descending; the id breaks ties', schema: {{type: string, "
            f"pattern: {names_pattern(names, '[-+]?')}}}}}")


def fields_schema(resource):
    names = ["id", "type", *resource.attributes, *resource.includes]
    return f"{{type: string, pattern: {names_pattern(names)}}}"


def fields_param(resource, indent):
    return (f"{indent}- {{name: fields, in: query, description: 'Members to return for "
            f"{resource.type}', schema: {fields_schema(resource)}}}")


def fields_types(indent):
    lines = []
    for resource in RESOURCES.values():
        lines += [f"{indent}Fields{resource.model}:",
                  f"{indent}  name: fields[{resource.type}]",
                  f"{indent}  in: query",
                  f"{indent}  description: Comma-separated members to return for {resource.type}.",
                  f"{indent}  schema: {fields_schema(resource)}"]
    return lines


def block(resource, indent):
    lines = [sort_param(resource, indent), fields_param(resource, indent)]
    for key, (name, op, kind) in filter_keys(resource).items():
        text = describe(name, op, kind).replace('"', "'")
        lines.append(f'{indent}- {{name: "filter[{key}]", in: query, description: "{text}", '
                     f"schema: {schema(op, kind)}}}")
    return lines


def render(text):
    def replace(match):
        indent, kind, res = match.group(1), match.group(2), match.group(3)
        if kind == "filters":
            lines = block(RESOURCES[res], indent)
        elif kind == "show":
            lines = [fields_param(RESOURCES[res], indent)]
        elif kind == "next-filters":  # the queue takes the filters, with the dataset required
            lines = [line.replace('name: "filter[dataset_id]", in: query,',
                                  'name: "filter[dataset_id]", in: query, required: true,')
                     for line in block(RESOURCES[res], indent)[1:]]
        else:
            lines = fields_types(indent)
        tail = f" {res}" if res else ""
        body = "\n".join(lines)
        return f"{indent}# BEGIN {kind}{tail}\n{body}\n{indent}# END {kind}{tail}"

    return re.sub(r"^( *)# BEGIN (filters|next-filters|show|fields-types) ?(\w*)\n.*?^\1# END \2 ?\3\n?",
                  lambda m: replace(m) + "\n", text, flags=re.S | re.M)


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
