"""Rewrites the generated blocks of openapi.yaml from the resource declarations (dataset_api/resources/).

The rest of openapi.yaml is written by hand; these blocks list names that must equal the
declarations exactly, so they are derived from them:
- ``# BEGIN filters <res>``: the index's ``sort``, ``fields`` and every ``filter[...]`` key the
  server accepts, each its own query parameter (so generated clients can send it);
- ``# BEGIN show <res>``: the show's plain ``fields``;
- ``# BEGIN next-filters entries``: ``GET /entries/next``'s fields and filters (dataset required);
- ``# BEGIN export-filters entries``: ``GET /datasets/{id}/export``'s filters (the index's);
- ``# BEGIN stream-filters events``: ``GET /events/stream``'s fields and filters (the index's; no sort);
- ``# BEGIN fields-types``: one ``fields[TYPE]`` parameter per type;
- ``# BEGIN rpc-sort <res>``: the JSON-RPC ``index`` method's ``sort``, described as the index's
  (no type: a bad value is -32602 in a 200 answer, not a request the schema refuses).
Names are spelled out in patterns so that whatever matches the schema is accepted.
Run after changing an attribute:  python tools/filter_params.py
``--check`` exits 1 when the file is out of date (the test suite runs it).
"""

import re
import sys
from pathlib import Path
from urllib.parse import quote

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dataset_api.resources  # noqa: E402,F401 - declares every resource
from dataset_api import spec  # noqa: E402
from dataset_api.jsonapi.query import MAX_LIST_ITEMS  # noqa: E402
from dataset_api.registry import RESOURCES, filter_keys  # noqa: E402

INT = r"[-+]?[0-9]{1,18}"
# A text list of at most MAX_LIST_ITEMS comma-separated pieces, none holding U+0000, as the server
# counts them (dataset_api/jsonapi/query.py); the two classes are disjoint, so no backtracking.
TEXT_LIST = f"'^[^,\\x00]*(,[^,\\x00]*){{0,{MAX_LIST_ITEMS - 1}}}$'"
NUMBER = r"[-+]?[0-9]{1,15}([.][0-9]{1,15})?"

# Every schema-valid query string must fit the request target the server serves (64 KiB, see
# dataset_api/middleware.py), so each index's text-valued filters share what is left of it once the
# fixed parameters and the resource's own 1,000-id list are counted: each gets the largest LADDER
# step that fits. Counted in bytes of ASCII text, as a client sends it percent-encoded.
TARGET_BYTES = 64 * 1024 - 512  # the path and some slack
LADDER = (4096, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64)
LIMITS = {}

BOOL = "{type: string, enum: ['true', 'false', '1', '0', 'yes', 'no', 't', 'f']}"
SCHEMAS = {
    "id": "{type: string, maxLength: 4096, pattern: '^[^\\x00]*$'}",
    "string": "{type: string, maxLength: 4096, pattern: '^[^\\x00]*$'}",
    "integer": "{type: integer, format: int64, minimum: -9223372036854775807, "
               "maximum: 9223372036854775807}",
    "number": "{type: number}",
    "timestamp": "{type: string, format: date-time, description: RFC 3339}",
    "array": "{type: string, maxLength: 4096, pattern: '^[^\\x00]*$', description: 'one item, or a JSON array"
             " of items'}",
    "boolean": BOOL,
}
# A JSON filter value is JSON text in a plain string parameter (``format: json``): every generator
# can send a string, while a ``content: application/json`` parameter crashes orval and is left out by
# openapi-python-client (docs/design-choices.md, "JSON filter values"). The server parses the text
# (400 unless it is a JSON object); its length is bounded like any text filter's.
def json_object(limit):
    return (f"{{type: string, format: json, minLength: 2, maxLength: {limit},"
            " pattern: '^[ \\t\\n\\r]*[{][^\\x00]*$', example: '{}'}")


JSON_NOTE = ("a JSON object (strict JSON: no NaN or Infinity, at most 64 levels deep, no U+0000 or"
             " unpaired surrogates in text, keys included; else 400)")
WORDS = {
    "": "equals", "eq": "equals", "neq": "differs from (or is null)", "in": "is one of (comma list)",
    "lt": "is less than", "lte": "is at most", "gt": "is greater than", "gte": "is at least",
    "match": "contains, case-insensitive", "prefix": "starts with, case-insensitive",
    "suffix": "ends with, case-insensitive", "exists": "is (true) or is not (false) set",
}


def describe(name, op, kind):
    if kind == "object" and op == "":
        return f"{name} contains this JSON (every given key with that value): {JSON_NOTE}"
    if kind == "array" and op == "":
        return f"{name} contains this JSON (object: every given key with that value; array: items)"
    if kind == "integer_list":
        return f"{name} is one of (comma list)"
    return f"{name} {WORDS[op]}"


def schema(op, kind, limit, own_id=False):
    """The schema of one filter value; ``limit`` bounds its text (see ``budget``)."""
    if op == "exists" or kind == "boolean":
        return BOOL
    if own_id and op == "in":  # the resource's own ids: a list of up to 1,000
        if kind == "integer":
            return _list(INT, 1000, 19 * 1000 + 999)
        return (f"{{type: string, maxLength: {36 * 1000 + 999}, pattern: {TEXT_LIST}, description:"
                f" 'comma-separated list of up to {MAX_LIST_ITEMS:,} ids'}}")
    if kind in ("integer", "integer_list") and op == "in" or kind == "integer_list":
        return _list(INT, max(1, limit // 20), limit)
    if op == "in" and kind == "number":
        return _list(NUMBER, max(1, limit // 32), limit)
    if op == "in" and kind == "timestamp":  # items split on commas and checked one by one
        return (f"{{type: array, minItems: 1, maxItems: {max(1, limit // 51)}, items: {{type: string,"
                " format: date-time}, description: comma-separated RFC 3339 list (at least one)}")
    if op == "in":
        return (f"{{type: string, maxLength: {limit}, pattern: {TEXT_LIST},"
                f" description: 'comma-separated list of up to {MAX_LIST_ITEMS:,} items'}}")
    if kind == "object":
        return json_object(limit)
    if kind in ("id", "string", "array"):
        length = min(limit, 255) if kind == "id" else limit
        return SCHEMAS[kind].replace("maxLength: 4096", f"maxLength: {length}")
    return SCHEMAS[kind]


def _list(item, count, length):
    return (f"{{type: string, maxLength: {length}, pattern: '^{item}(,{item}){{0,{count - 1}}}$',"
            f" description: comma-separated list of up to {count}}}")


def names_pattern(names, sign="", most=None):
    """A comma list of ``names``, each at most once in length: maxLength is all of them, signed;
    ``most`` bounds the number of terms too (else any number that fits)."""
    alt = "|".join(names)
    longest = len(",".join(f"{sign and '-'}{n}" for n in names))
    more = "*" if most is None else f"{{0,{most - 1}}}"
    return f"'^{sign}({alt})(,{sign}({alt})){more}$', maxLength: {longest}"


def sort_schema(resource, extra=""):
    """``sort``: at most one term per sortable name, as the server takes it (query.py)."""
    names = resource.sort_names
    return f"{{type: string, pattern: {names_pattern(names, '[-+]?', most=len(names))}{extra}}}"


def sort_words(resource):
    return (f"comma-separated attributes, - for descending; at most {len(resource.sort_names)} "
            "terms, one per sortable name")


def sort_param(resource, indent):
    return (f"{indent}- {{name: sort, in: query, description: '{sort_words(resource).capitalize()}; "
            f"the id breaks ties', schema: {sort_schema(resource)}}}")


def rpc_sort(resource, indent):
    names = ", ".join(resource.sort_names)
    return [f"{indent}sort: {{description: 'index: as GET /{resource.name}, a text: {sort_words(resource)} "
            f"({names}).', example: '-created_at'}}"]


def fields_schema(resource):
    names = ["id", "type", *resource.attributes, *resource.includes]
    return f"{{type: string, pattern: {names_pattern(names)}}}"


def fields_param(resource, indent):
    return (f"{indent}- {{name: fields, in: query, description: 'Members to return for "
            f"{resource.type}', schema: {fields_schema(resource)}}}")


def fields_types(indent):
    lines = []
    for resource in sorted(RESOURCES.values(), key=lambda r: r.name):  # stable as modules are added
        lines += [f"{indent}Fields{resource.model.__name__}:",
                  f"{indent}  name: fields[{resource.type}]",
                  f"{indent}  in: query",
                  f"{indent}  description: Comma-separated members to return for {resource.type}.",
                  f"{indent}  schema: {fields_schema(resource)}"]
    return lines


def block(resource, indent, limit=None):
    limit = limit or LIMITS.get(resource.name, LADDER[0])
    lines = [sort_param(resource, indent), fields_param(resource, indent)]
    for key, (name, op, kind) in filter_keys(resource).items():
        text = describe(name, op, kind).replace('"', "'")
        value = schema(op, kind, limit, own_id=name == "id")
        where = "style: form, explode: false, schema" if value.startswith("{type: array") else "schema"
        lines.append(f'{indent}- {{name: "filter[{key}]", in: query, description: "{text}", '
                     f"{where}: {value}}}")
    return lines


def worst_value(schema):
    """The longest text a schema-valid value can take (bytes, ASCII)."""
    if "enum" in schema:
        return max(len(quote(str(v), safe="")) for v in schema["enum"])
    if schema.get("type") == "array":
        return schema.get("maxItems", 1000) * (worst_value(schema["items"]) + 3)
    if schema.get("type") in ("integer", "number"):
        return 24
    if schema.get("format") == "date-time":
        return 48
    return schema["maxLength"]  # every other query value is bounded


def worst_query(params, limit=0):
    """The longest query string ``params`` can make."""
    return sum(len(quote(p["name"], safe="")) + 2 + worst_value(p["schema"]) for p in params)


def budget(text):
    """Pick each resource's LIMITS step: the largest whose worst index query string fits."""
    doc = yaml.load(text, yaml.CSafeLoader)  # LibYAML: the whole document, 5x faster
    components = doc["components"]["parameters"]
    for resource in RESOURCES.values():
        fixed = [components[p["$ref"].rsplit("/", 1)[1]] for p in doc["paths"][f"/{resource.name}"]["get"]
                 ["parameters"] if "$ref" in p]
        for limit in LADDER:
            generated = yaml.safe_load("\n".join(block(resource, "", limit)))
            if worst_query(fixed) + worst_query(generated, limit) <= TARGET_BYTES:
                LIMITS[resource.name] = limit
                break
        else:
            raise SystemExit(f"{resource.name}: no filter limit fits {TARGET_BYTES} bytes")


def render(text):
    def replace(match):
        indent, kind, res = match.group(1), match.group(2), match.group(3)
        if kind == "filters":
            lines = block(RESOURCES[res], indent)
        elif kind == "show":
            lines = [fields_param(RESOURCES[res], indent)]
        elif kind == "rpc-sort":
            lines = rpc_sort(RESOURCES[res], indent)
        elif kind == "next-filters":  # the queue takes the filters, with the dataset required
            lines = [line.replace('name: "filter[dataset_id]", in: query,',
                                  'name: "filter[dataset_id]", in: query, required: true,')
                     for line in block(RESOURCES[res], indent)[1:]]
        elif kind == "export-filters":  # an export takes the index's filters (no sort, no fields)
            lines = block(RESOURCES[res], indent)[2:]
        elif kind == "stream-filters":  # a stream: the index's fields and filters (commit order)
            lines = block(RESOURCES[res], indent)[1:]
        else:
            lines = fields_types(indent)
        tail = f" {res}" if res else ""
        body = "\n".join(lines)
        return f"{indent}# BEGIN {kind}{tail}\n{body}\n{indent}# END {kind}{tail}"

    kinds = "filters|next-filters|export-filters|stream-filters|show|fields-types|rpc-sort"
    return re.sub(rf"^( *)# BEGIN ({kinds}) ?(\w*)\n.*?^\1# END \2 ?\3\n?",
                  lambda m: replace(m) + "\n", text, flags=re.S | re.M)


def main(argv):
    path = spec.PATH.resolve()  # the package links to the repository's document: rewrite that
    text = path.read_text()
    budget(render(text))  # the fixed parameters as generated, then the filters' share
    new = render(text)
    if "--check" in argv:
        return 0 if new == text else 1
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
