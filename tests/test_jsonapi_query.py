"""Unit tests of the pure query-string code: ``querystring.normalise`` (reference clients' bracket
forms -> one key per parameter), ``query.parse`` (pairs -> a typed ``Query``) and ``query.index`` (the
parts of a query, as JSON-RPC's index gives them -> the same ``Query``). No app, no database."""

from datetime import datetime
from urllib.parse import parse_qsl

import pytest

from dataset_api.errors import InvalidQuery
from dataset_api.jsonapi.query import Query, index, parse
from dataset_api.jsonapi.querystring import normalise
from dataset_api.resources.annotations import ANNOTATIONS
from dataset_api.resources.datasets import DATASETS
from dataset_api.resources.entries import ENTRIES
from dataset_api.resources.project_members import PROJECT_MEMBERS
from dataset_api.resources.projects import PROJECTS


def pairs_of(raw):
    """The (key, value) pairs of ``normalise(raw)``; the result must be plain ASCII."""
    return parse_qsl(normalise(raw).decode("ascii"), keep_blank_values=True, strict_parsing=False)


# --- normalise ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    (b"", []),
    (b"sort=-priority&page[size]=2", [("sort", "-priority"), ("page[size]", "2")]),
    (b"included[]=dataset&included[]=project", [("included", "dataset,project")]),
    (b"included[]=dataset", [("included", "dataset")]),
    (b"include=dataset,project", [("include", "dataset,project")]),
    (b"fields[dataset:entries][]=resource&fields[dataset:entries][]=priority",
     [("fields[dataset:entries]", "resource,priority")]),
    (b"fields[dataset:entries]=resource,priority", [("fields[dataset:entries]", "resource,priority")]),
    (b"filter[status][]=pending&filter[status][]=completed", [("filter[status__in]", "pending,completed")]),
    (b"filter[status__in][]=pending&filter[status__in][]=completed",
     [("filter[status__in]", "pending,completed")]),
    (b"filter[status][]=pending", [("filter[status__in]", "pending")]),
    # both list spellings of one filter merge
    (b"filter[status][]=pending&filter[status__in][]=done", [("filter[status__in]", "pending,done")]),
    # the plain form is left whole
    (b"filter[resource]=a,b", [("filter[resource]", "a,b")]),
    (b"filter[status__in]=a,b", [("filter[status__in]", "a,b")]),
    # percent-encoded brackets are the same keys
    (b"filter%5Bresource%5D%5B%5D=a&included%5B%5D=dataset",
     [("filter[resource__in]", "a"), ("included", "dataset")]),
    (b"filter[resource]=a+b%2Bc%25d", [("filter[resource]", "a b+c%d")]),
    (b"filter[resource]=%C3%A9lan", [("filter[resource]", "\u00e9lan")]),
    (b"filter[metadata]=%7B%22tool%22%3A%22box%22%7D", [("filter[metadata]", '{"tool":"box"}')]),
    (b"filter[job_id]=", [("filter[job_id]", "")]),
    (b"count", [("count", "")]),
    (b"a=1&&b=2", [("a", "1"), ("b", "2")]),
    # a merged list keeps the place of its first item; other parameters keep their order
    (b"filter[x][]=a&sort=y&filter[x][]=b&page[number]=2",
     [("filter[x__in]", "a,b"), ("sort", "y"), ("page[number]", "2")]),
    # repeated list keys, as generated clients send arrays, mean the comma form
    (b"included=dataset&included=project", [("included", "dataset,project")]),
    (b"included=dataset&included[]=project", [("included", "dataset,project")]),
    (b"included[]=dataset&included=project", [("included", "dataset,project")]),
    (b"fields[dataset:entries]=resource&fields[dataset:entries]=priority",
     [("fields[dataset:entries]", "resource,priority")]),
    (b"filter[id__in]=a&filter[id__in]=b", [("filter[id__in]", "a,b")]),
])
def test_normalise(raw, expected):
    assert pairs_of(raw) == expected


def test_normalise_is_idempotent():
    once = normalise(b"included[]=dataset&included[]=project&filter[priority][]=1&filter[priority][]=2")
    assert normalise(once) == once


@pytest.mark.parametrize(("raw", "parameter"), [
    (b"page[size][x]=1", "page[size][x]"),
    (b"filter[priority][gt]=1", "filter[priority][gt]"),
    (b"fields[dataset:entries][][]=resource", "fields[dataset:entries][]"),
    (b"page[size=1", "page[size"),
    (b"page]size[=1", "page]size["),
    (b"[x]=1", "[x]"),
    (b"sort-by=x", "sort-by"),
    (b"page[]]=1", "page[]]"),
    # one plain key twice, or a plain key mixed with its list form, is ambiguous
    (b"filter[resource]=a&filter[resource]=b", "filter[resource]"),
    (b"sort=priority&sort=resource", "sort"),
    # U+0000 cannot be stored or matched
    (b"filter[resource]=a%00b", "filter[resource]"),
    (b"filter[resource][]=%00", "filter[resource__in]"),
])
def test_normalise_refuses(raw, parameter):
    with pytest.raises(InvalidQuery) as info:
        normalise(raw)
    assert info.value.status == 400
    assert info.value.errors[0]["source"] == {"parameter": parameter}


@pytest.mark.parametrize("raw", [b"=1", b"filter[resource]=%ff", b"filter[resource]=%C3", b"q%C3=1"])
def test_normalise_refuses_empty_keys_and_bad_utf8(raw):
    with pytest.raises(InvalidQuery) as info:
        normalise(raw)
    assert info.value.status == 400


# --- parse: filters ----------------------------------------------------------------------------

@pytest.mark.parametrize(("resource", "key", "text", "expected"), [
    # strings: the plain form is whole, __in splits on commas (an empty list matches nothing)
    (ENTRIES, "filter[resource]", "a,b", ("resource", "", "a,b", "string")),
    (ENTRIES, "filter[resource__eq]", "a", ("resource", "eq", "a", "string")),
    (ENTRIES, "filter[resource__neq]", "a", ("resource", "neq", "a", "string")),
    (ENTRIES, "filter[resource__in]", "a,b", ("resource", "in", ["a", "b"], "string")),
    (ENTRIES, "filter[resource__in]", "a,,b", ("resource", "in", ["a", "b"], "string")),
    (ENTRIES, "filter[resource__in]", "", ("resource", "in", [], "string")),
    (ENTRIES, "filter[resource__match]", "50%_\\", ("resource", "match", "50%_\\", "string")),
    (ENTRIES, "filter[resource__prefix]", "Img", ("resource", "prefix", "Img", "string")),
    (ENTRIES, "filter[resource__suffix]", ".PNG", ("resource", "suffix", ".PNG", "string")),
    (ENTRIES, "filter[resource__exists]", "true", ("resource", "exists", True, "string")),
    (ENTRIES, "filter[job_id__exists]", "false", ("job_id", "exists", False, "string")),
    (ENTRIES, "filter[job_id__exists]", "YES", ("job_id", "exists", True, "string")),
    (ENTRIES, "filter[job_id__exists]", "f", ("job_id", "exists", False, "string")),
    (ENTRIES, "filter[dataset_id]", "d1", ("dataset_id", "", "d1", "id")),
    (ENTRIES, "filter[id__in]", "e1,e2", ("id", "in", ["e1", "e2"], "id")),
    # integers
    (ENTRIES, "filter[priority]", "5", ("priority", "", 5, "integer")),
    (ENTRIES, "filter[priority]", "-3", ("priority", "", -3, "integer")),
    (ENTRIES, "filter[priority]", "+7", ("priority", "", 7, "integer")),
    (ENTRIES, "filter[priority__neq]", "0", ("priority", "neq", 0, "integer")),
    (ENTRIES, "filter[priority__in]", "1,-2", ("priority", "in", [1, -2], "integer")),
    (ENTRIES, "filter[priority__lt]", "10", ("priority", "lt", 10, "integer")),
    (ENTRIES, "filter[priority__lte]", "9223372036854775807", ("priority", "lte", 2**63 - 1, "integer")),
    (ENTRIES, "filter[priority__gt]", "-9223372036854775807", ("priority", "gt", -(2**63 - 1), "integer")),
    (ENTRIES, "filter[priority__gte]", "0", ("priority", "gte", 0, "integer")),
    # numbers
    (DATASETS, "filter[progress]", "1", ("progress", "", 1.0, "number")),
    (DATASETS, "filter[progress__gt]", "0.5", ("progress", "gt", 0.5, "number")),
    (DATASETS, "filter[progress__in]", "0.25,1", ("progress", "in", [0.25, 1.0], "number")),
    # timestamps: RFC 3339, compared as naive UTC
    (ENTRIES, "filter[created_at]", "2026-03-01T10:00:00Z",
     ("created_at", "", datetime(2026, 3, 1, 10), "timestamp")),
    (ENTRIES, "filter[created_at__gte]", "2026-03-01T10:00:00z",
     ("created_at", "gte", datetime(2026, 3, 1, 10), "timestamp")),
    (ENTRIES, "filter[created_at__lt]", "2026-03-01T10:00:00+02:00",
     ("created_at", "lt", datetime(2026, 3, 1, 8), "timestamp")),
    (ENTRIES, "filter[created_at__gt]", "2026-03-01T00:30:00-01:00",
     ("created_at", "gt", datetime(2026, 3, 1, 1, 30), "timestamp")),
    (ENTRIES, "filter[created_at__lte]", "2026-03-01T00:30:00+05:30",
     ("created_at", "lte", datetime(2026, 2, 28, 19), "timestamp")),
    (ENTRIES, "filter[updated_at__neq]", "2026-03-01T10:00:00.123456Z",
     ("updated_at", "neq", datetime(2026, 3, 1, 10, 0, 0, 123456), "timestamp")),
    (ENTRIES, "filter[updated_at__in]", "2026-03-01T10:00:00Z,2026-03-01T12:00:00+01:00",
     ("updated_at", "in", [datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 11)], "timestamp")),
    (PROJECT_MEMBERS, "filter[disabled_at__exists]", "0", ("disabled_at", "exists", False, "timestamp")),
    # JSON: objects for object attributes; an array attribute takes one item or a JSON array
    (ANNOTATIONS, "filter[metadata]", '{"tool": "box"}', ("metadata", "", {"tool": "box"}, "object")),
    (ANNOTATIONS, "filter[dimensions]", '{"x": 1, "y": [2]}',
     ("dimensions", "", {"x": 1, "y": [2]}, "object")),
    (ANNOTATIONS, "filter[metadata]", "{}", ("metadata", "", {}, "object")),
    (ANNOTATIONS, "filter[metadata__exists]", "true", ("metadata", "exists", True, "object")),
    (DATASETS, "filter[labels]", "bird", ("labels", "", ["bird"], "array")),
    (DATASETS, "filter[labels]", "bird,sky", ("labels", "", ["bird,sky"], "array")),
    (DATASETS, "filter[labels]", '["bird", "sky"]', ("labels", "", ["bird", "sky"], "array")),
    # resource-specific filters
    (ENTRIES, "filter[participated]", "12", ("participated", "", 12, "integer")),
    (ENTRIES, "filter[assigned]", "true", ("assigned", "", True, "boolean")),
    (ENTRIES, "filter[assigned]", "no", ("assigned", "", False, "boolean")),
    (PROJECT_MEMBERS, "filter[enabled]", "1", ("enabled", "", True, "boolean")),
    (PROJECT_MEMBERS, "filter[enabled]", "false", ("enabled", "", False, "boolean")),
    (PROJECT_MEMBERS, "filter[organization_id]", "7", ("organization_id", "", 7, "integer")),
    (PROJECT_MEMBERS, "filter[organization_id__in]", "7,8", ("organization_id", "in", [7, 8], "integer")),
    (PROJECT_MEMBERS, "filter[id]", "3", ("id", "", 3, "integer")),
    (PROJECT_MEMBERS, "filter[id__gte]", "3", ("id", "gte", 3, "integer")),
    (PROJECTS, "filter[organization_id__in]", "7", ("organization_id", "in", [7], "integer")),
])
def test_parse_filter(resource, key, text, expected):
    (flt,) = parse(resource, [(key, text)]).filters
    assert (flt.name, flt.op, flt.value, flt.kind, flt.parameter) == (*expected, key)
    assert type(flt.value) is type(expected[2])  # typed: 1.0 for a number, not 1


def test_parse_keeps_every_filter_in_order():
    query = parse(ENTRIES, [("filter[priority__gte]", "1"), ("filter[resource__match]", "cat"),
                            ("filter[priority__lt]", "9")])
    assert [(f.name, f.op, f.value) for f in query.filters] == [
        ("priority", "gte", 1), ("resource", "match", "cat"), ("priority", "lt", 9)]


# --- parse: sort, paging, count, include, fields -----------------------------------------------

def test_parse_defaults():
    query = parse(ENTRIES, [])
    assert query == Query()
    assert (query.page_number, query.page_size, query.count) == (1, 1000, False)
    assert (query.filters, query.sort, query.include, query.fields) == ([], [], [], {})


@pytest.mark.parametrize(("resource", "pairs", "attribute", "expected"), [
    (ENTRIES, [("sort", "priority")], "sort", [("priority", False)]),
    (ENTRIES, [("sort", "-priority,resource,+id")], "sort",
     [("priority", True), ("resource", False), ("id", False)]),
    (ENTRIES, [("sort", "-id")], "sort", [("id", True)]),
    (DATASETS, [("sort", "-progress,created_at")], "sort", [("progress", True), ("created_at", False)]),
    (PROJECT_MEMBERS, [("sort", "disabled_at,-account_id")], "sort",
     [("disabled_at", False), ("account_id", True)]),
    (ENTRIES, [("page[number]", "3")], "page_number", 3),
    (ENTRIES, [("page[number]", "2147483648")], "page_number", 2**31),
    (ENTRIES, [("page[size]", "1")], "page_size", 1),
    (ENTRIES, [("page[size]", "1000")], "page_size", 1000),
    *[(ENTRIES, [("count", text)], "count", True) for text in ("true", "1", "yes", "t")],
    *[(ENTRIES, [("count", text)], "count", False) for text in ("false", "0", "no", "f")],
    (ENTRIES, [("included", "dataset,dataset.project")], "include", ["dataset", "dataset.project"]),
    (ENTRIES, [("include", "project")], "include", ["project"]),
    (ENTRIES, [("included", "dataset, project")], "include", ["dataset", "project"]),
    # include and included add up, without duplicates, in first-seen order
    (ENTRIES, [("include", "dataset,project"), ("included", "project,annotations,dataset")], "include",
     ["dataset", "project", "annotations"]),
    (DATASETS, [("include", "entries")], "include", ["entries"]),
    (PROJECT_MEMBERS, [("include", "project")], "include", ["project"]),
    (ENTRIES, [("fields[dataset:entries]", "resource,priority")], "fields",
     {"dataset:entries": {"resource", "priority"}}),
    (ENTRIES, [("fields", "resource")], "fields", {"dataset:entries": {"resource"}}),
    (DATASETS, [("fields", "name,entries")], "fields", {"dataset:datasets": {"name", "entries"}}),
    (ENTRIES, [("fields", "resource"), ("fields[dataset:entries]", "priority")], "fields",
     {"dataset:entries": {"resource", "priority"}}),
    (ENTRIES, [("fields[dataset:entries]", "id,type")], "fields", {"dataset:entries": {"id", "type"}}),
    (ENTRIES, [("fields[dataset:entries]", "resource"), ("fields[dataset:datasets]", "name,project")],
     "fields", {"dataset:entries": {"resource"}, "dataset:datasets": {"name", "project"}}),
])
def test_parse_other_parameters(resource, pairs, attribute, expected):
    assert getattr(parse(resource, pairs), attribute) == expected


def test_parse_for_show_accepts_include_and_fields():
    query = parse(ENTRIES, [("included", "dataset.project"), ("fields[dataset:entries]", "resource")],
                  collection=False)
    assert query.include == ["dataset.project"]
    assert query.fields == {"dataset:entries": {"resource"}}


@pytest.mark.parametrize(("key", "text"), [
    ("filter[priority]", "1"), ("sort", "priority"), ("page[size]", "1"), ("page[number]", "1"),
    ("count", "true"),
])
def test_parse_for_show_refuses_index_parameters(key, text):
    with pytest.raises(InvalidQuery) as info:
        parse(ENTRIES, [(key, text)], collection=False)
    assert info.value.errors[0]["source"] == {"parameter": key}


# --- parse: refusals ---------------------------------------------------------------------------

@pytest.mark.parametrize(("resource", "key", "text"), [
    # values that do not fit the attribute's type
    (ENTRIES, "filter[priority]", "abc"),
    (ENTRIES, "filter[priority]", "1.5"),
    (ENTRIES, "filter[priority]", "1e3"),
    (ENTRIES, "filter[priority]", "0x10"),
    (ENTRIES, "filter[priority]", ""),
    (ENTRIES, "filter[priority]", "9223372036854775808"),
    (ENTRIES, "filter[priority__in]", "1,x"),
    (ENTRIES, "filter[priority__gte]", "ten"),
    (DATASETS, "filter[progress]", "half"),
    (DATASETS, "filter[progress]", "nan"),
    (DATASETS, "filter[progress__lt]", "inf"),
    (DATASETS, "filter[progress]", "1e400"),
    (DATASETS, "filter[progress__in]", "0.5,x"),
    (ENTRIES, "filter[created_at]", "yesterday"),
    (ENTRIES, "filter[created_at__gte]", "2026-13-01T00:00:00Z"),
    (ENTRIES, "filter[created_at__gte]", "2026-02-30T00:00:00Z"),
    (ENTRIES, "filter[created_at__lt]", "2026-03-01T25:00:00Z"),
    (ENTRIES, "filter[created_at__lt]", "2026-03-01T10:00:00+25:00"),
    (ENTRIES, "filter[created_at__in]", "2026-03-01T00:00:00Z,never"),
    (ENTRIES, "filter[job_id__exists]", "maybe"),
    (ENTRIES, "filter[job_id__exists]", ""),
    (ENTRIES, "filter[assigned]", "2"),
    (ENTRIES, "filter[participated]", "me"),
    (ANNOTATIONS, "filter[metadata]", "tool=box"),
    (ANNOTATIONS, "filter[metadata]", '["box"]'),
    (ANNOTATIONS, "filter[metadata]", '"box"'),
    (ANNOTATIONS, "filter[metadata]", "null"),
    (ANNOTATIONS, "filter[metadata]", '{"tool":'),
    # NaN and Infinity are not JSON (Python's json module accepts them)
    (ANNOTATIONS, "filter[metadata]", '{"score": NaN}'),
    (ANNOTATIONS, "filter[dimensions]", '{"x": -Infinity}'),
    # nesting deeper than the parser's recursion limit, within the spec's 4096 characters
    pytest.param(ANNOTATIONS, "filter[metadata]", '{"a":' + "[" * 1500 + "]" * 1500 + "}",
                 id="deep-object"),
    pytest.param(DATASETS, "filter[labels]", "[" * 2000 + "]" * 2000, id="deep-array"),
    (PROJECT_MEMBERS, "filter[enabled]", "on"),
    (PROJECT_MEMBERS, "filter[organization_id__in]", "7,x"),
    (PROJECT_MEMBERS, "filter[id]", "abc"),
    # unknown filters, and operators the attribute does not have
    (ENTRIES, "filter[colour]", "red"),
    (ENTRIES, "filter[]", "a"),
    (ENTRIES, "filter[resource__]", "a"),
    (ENTRIES, "filter[__eq]", "a"),
    (ENTRIES, "filter[priority__match]", "1"),
    (ENTRIES, "filter[priority__prefix]", "1"),
    (ENTRIES, "filter[resource__gt]", "a"),
    (ENTRIES, "filter[resource__like]", "a"),
    (ENTRIES, "filter[participated__in]", "1"),
    (ENTRIES, "filter[enabled]", "true"),
    (PROJECT_MEMBERS, "filter[assigned]", "true"),
    (PROJECT_MEMBERS, "filter[id__match]", "1"),
    (ANNOTATIONS, "filter[metadata__eq]", "{}"),
    (ANNOTATIONS, "filter[metadata__in]", "{}"),
    (DATASETS, "filter[labels__in]", "bird"),
    # sort: unknown, empty or unsortable (JSON) attributes
    (ENTRIES, "sort", "colour"),
    (ENTRIES, "sort", ""),
    (ENTRIES, "sort", "priority,"),
    (ENTRIES, "sort", "--priority"),
    (DATASETS, "sort", "labels"),
    (DATASETS, "sort", "workflow_configuration"),
    (ANNOTATIONS, "sort", "metadata"),
    # include: only the declared paths
    (ENTRIES, "included", "owner"),
    (ENTRIES, "include", "dataset.owner"),
    (ENTRIES, "include", "project.datasets"),
    (ANNOTATIONS, "include", "entry.dataset"),
    (DATASETS, "include", "dataset"),
    (PROJECT_MEMBERS, "included", "datasets"),
    # fields: known types and members only
    (ENTRIES, "fields[dataset:entries]", "colour"),
    (ENTRIES, "fields[dataset:entries]", "resource,colour"),
    (ENTRIES, "fields[dataset:datasets]", "resource"),
    (ENTRIES, "fields[dataset:colours]", "id"),
    (ENTRIES, "fields", "name"),
    (ENTRIES, "fieldset", "resource"),
    # paging and count
    (ENTRIES, "page[size]", "0"),
    (ENTRIES, "page[size]", "1001"),
    (ENTRIES, "page[size]", "-1"),
    (ENTRIES, "page[size]", "ten"),
    (ENTRIES, "page[size]", ""),
    (ENTRIES, "page[number]", "0"),
    (ENTRIES, "page[number]", "-1"),
    (ENTRIES, "page[number]", "1.5"),
    (ENTRIES, "page[number]", "2147483649"),
    (ENTRIES, "count", "maybe"),
    (ENTRIES, "count", ""),
    # unknown parameters
    (ENTRIES, "colour", "red"),
    (ENTRIES, "page[offset]", "1"),
    (ENTRIES, "Sort", "priority"),
])
def test_parse_refuses(resource, key, text):
    with pytest.raises(InvalidQuery) as info:
        parse(resource, [(key, text)])
    assert info.value.status == 400
    assert info.value.errors[0]["source"] == {"parameter": key}


@pytest.mark.parametrize(("resource", "pairs", "words"), [
    (ENTRIES, [("filter[colour]", "red")], ["colour"]),
    (ENTRIES, [("filter[priority]", "abc")], ["abc", "filter[priority]"]),
    (ENTRIES, [("sort", "-colour")], ["colour"]),
    (ENTRIES, [("included", "owner")], ["owner", "dataset.project", "annotations"]),
    (ENTRIES, [("fields[dataset:entries]", "colour,resource")], ["colour"]),
    (ENTRIES, [("page[size]", "0")], ["1", "1000"]),
])
def test_errors_say_what_is_wrong(resource, pairs, words):
    with pytest.raises(InvalidQuery) as info:
        parse(resource, pairs)
    detail = info.value.errors[0]["detail"]
    assert all(word in detail for word in words), detail


# --- index: the parts of a query, without a query string -----------------------------------------

def parts_as_pairs(filters=(), sort=None, page=(), count=None):
    """The query-string pairs that say what ``index(**parts)`` is given."""
    return [*((f"filter[{name}]", text) for name, text in filters),
            *([("sort", sort)] if sort is not None else []),
            *((f"page[{member}]", text) for member, text in page),
            *([("count", count)] if count is not None else [])]


@pytest.mark.parametrize("parts", [
    {},
    {"filters": [("priority__gte", "1"), ("resource__match", "cat"), ("priority__lt", "9")]},
    {"filters": [("status__in", "pending,completed")], "sort": "-priority,id"},
    {"page": [("size", "2"), ("number", "3")], "count": "true"},
    {"filters": [("priority", "4")], "sort": "resource", "page": [("number", "2")], "count": "no"},
])
def test_index_is_parse_of_the_same_parts(parts):
    assert index(ENTRIES, **parts) == parse(ENTRIES, parts_as_pairs(**parts))


@pytest.mark.parametrize(("parts", "parameter"), [
    ({"filters": [("colour", "red")]}, "filter[colour]"),
    ({"filters": [("priority", "1"), ("priority__gte", "abc")]}, "filter[priority__gte]"),
    ({"sort": "-colour"}, "sort"),
    ({"page": [("size", "0")]}, "page[size]"),
    ({"page": [("offset", "1")]}, "page[offset]"),
    ({"count": "maybe"}, "count"),
    # the first part at fault is the one named, in the order filters, sort, page, count
    ({"filters": [("colour", "red")], "sort": "-colour", "page": [("size", "0")]}, "filter[colour]"),
    ({"sort": "-colour", "page": [("size", "0")], "count": "maybe"}, "sort"),
])
def test_index_refuses_as_parse_does(parts, parameter):
    with pytest.raises(InvalidQuery) as info:
        index(ENTRIES, **parts)
    with pytest.raises(InvalidQuery) as parsed:
        parse(ENTRIES, parts_as_pairs(**parts))
    assert info.value.errors == parsed.value.errors
    assert info.value.errors[0]["source"] == {"parameter": parameter}
