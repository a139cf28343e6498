"""Pure parsing of an index or show query string into a ``Query`` (no peewee here).

https://jsonapi.org/format/#fetching — unknown sort fields, includes, fields and filters are
rejected with a 400 naming the parameter, never silently ignored.
"""

from dataclasses import dataclass, field

from dataset_api.errors import InvalidQuery
from dataset_api.jsonapi import cursor, values
from dataset_api.jsonapi.cursor import Seal
from dataset_api.registry import BY_TYPE, RESOURCES, filter_keys

MAX_PAGE_SIZE = 1000
# Items of one filter[x__in] list, counted as comma-separated pieces (openapi.yaml's patterns say
# the same, or less): a bound on every list a client sends, whatever its route (JSON-RPC has no
# request-target limit), so that no list reaches the database past what its driver takes.
MAX_LIST_ITEMS = 1000


@dataclass(frozen=True)
class Filter:
    name: str  # attribute (or resource-specific filter) name
    op: str  # "" (equal / contains), eq, neq, in, lt, lte, gt, gte, match, prefix, suffix, exists
    value: object
    kind: str
    parameter: str


@dataclass
class Query:
    filters: list = field(default_factory=list)
    sort: list = field(default_factory=list)  # [(name, descending)]
    page_number: int = 1
    page_size: int = MAX_PAGE_SIZE
    numbered: bool = False  # page[number] was given
    cursor: str | None = None  # page[cursor] as given ("" = the first page): keyset paging
    after: list | dict | None = None  # where the cursor's page starts (``cursor.decode``)
    seal: Seal | None = None  # the caller's: what its cursors are made and checked with
    count: bool = False
    include: list = field(default_factory=list)  # dotted paths
    fields: dict = field(default_factory=dict)  # type -> set of attribute/relationship names
    tail: tuple = ()  # the resource's ``position`` columns, before ``id`` in every order
    key: str = "id"  # the resource's ``key``: the column the API's ``id`` names

    @property
    def terms(self):
        """The (name, descending) terms the index orders by (``order``)."""
        return order(self.sort, self.tail)


def parse(resource, pairs, *, collection=True, seal=None):
    """Return the ``Query`` for ``pairs`` ((key, value) tuples); raise ``InvalidQuery``. ``seal``
    (``cursor.Seal``) makes and checks the caller's cursors: without it a cursor is refused."""
    query = Query(seal=seal, tail=resource.position, key=resource.key)
    for key, value in pairs:
        if collection and _bracketed(key, "filter"):
            query.filters.append(_filter(resource, key[len("filter["):-1], value))
        elif key.startswith("fields"):
            _fields(resource, query, key, value)
        elif key in ("include", "included"):
            query.include.extend(_include(resource, key, value))
        elif key == "sort" and collection:
            query.sort = _sort(resource, value)
        elif key == "count" and collection:
            query.count = _count(value)
        elif collection and _bracketed(key, "page"):
            _page(query, key[len("page["):-1], value)
        else:
            raise _unknown(key)
    query.include = list(dict.fromkeys(query.include))
    return _positioned(resource, query)


def index(resource, *, filters=(), sort=None, page=(), count=None, seal=None):
    """Return the index ``Query`` of the parts of a query, as text, without a query string (for
    JSON-RPC): ``filters`` and ``page`` as (name, text) pairs (``("entry_id", "…")``,
    ``("size", "20")``), ``sort`` and ``count`` as text or None. Each part meets the rule of its
    query parameter in ``parse``, and a refusal names that parameter (``filter[entry_id]``)."""
    query = Query(filters=[_filter(resource, name, text) for name, text in filters], seal=seal,
                  tail=resource.position, key=resource.key)
    if sort is not None:
        query.sort = _sort(resource, sort)
    for member, text in page:
        _page(query, member, text)
    if count is not None:
        query.count = _count(count)
    return _positioned(resource, query)


def next_cursor(resource, query, rows, has_more):
    """The ``page[cursor]`` of the page after ``rows``; None on the last page, or when ``query``
    pages by number."""
    if query.cursor is None or not has_more:
        return None
    return cursor.encode(query.seal, resource, query, query.terms, rows[-1])


def order(sort, tail=()):
    """The terms an index orders by: ``sort`` up to ``id``, then the ``tail`` columns (the
    resource's ``position``) and ``id`` ascending unless it was named, so that the order is total
    and pages never overlap or skip."""
    terms = []
    for name, descending in sort:
        terms.append((name, descending))
        if name == "id":
            return terms
    return [*terms, *((name, False) for name in tail), ("id", False)]


def _bracketed(key, family):
    """Whether ``key`` is ``family[...]`` (``filter[entry_id]``, ``page[size]``)."""
    return key.startswith(f"{family}[") and key.endswith("]")


def _unknown(key):
    return InvalidQuery(f"Unknown query parameter '{key}'.", parameter=key, code="unknown_parameter")


def _convert(converter, text, parameter):
    try:
        return converter(text)
    except ValueError as exc:
        raise InvalidQuery(f"Invalid value {text!r} for '{parameter}': {exc}.",
                           parameter=parameter) from None


def _bounded(text, parameter, low, high):
    number = _convert(values.to_int, text, parameter)
    if not low <= number <= high:
        raise InvalidQuery(f"'{parameter}' must be between {low} and {high}.", parameter=parameter)
    return number


def _filter(resource, name, text):
    """The ``Filter`` of ``filter[name]=text``."""
    key = f"filter[{name}]"
    spec = filter_keys(resource).get(name)
    if spec is None:
        raise InvalidQuery(f"Unknown filter '{name}' for {resource.name}.", parameter=key)
    attr, op, kind = spec
    if op == "exists" or kind == "boolean":
        value = _convert(values.to_bool, text, key)
    elif kind == "integer_list" or op == "in":
        item_kind = "integer" if kind == "integer_list" else kind
        value = [_convert(values.CONVERTERS[item_kind], item, key)
                 for item in _listed(text, key, MAX_LIST_ITEMS, "items")
                 if item != ""]  # an empty list matches nothing
    elif kind in ("object", "array"):
        value = _convert(lambda t: values.to_json(t, kind), text, key)
    else:
        value = _convert(values.CONVERTERS[kind], text, key)
    if attr == "id":  # the column the API's ids are
        attr = resource.key
    return Filter(attr, op, value, "integer" if kind == "integer_list" else kind, key)


def _count(text):
    return _convert(values.to_bool, text, "count")


PAGE = {"number": ("page_number", 2**31), "size": ("page_size", MAX_PAGE_SIZE)}  # (field, largest)
CURSOR = "page[cursor]"


def _page(query, member, text):
    """Set ``page[member]=text``: a page number or size, from 1 up to its bound, or a cursor
    (read once the sort and filters are known: ``_positioned``); not a cursor and a number."""
    key = f"page[{member}]"
    if member == "cursor":
        query.cursor = text
    elif member in PAGE:
        field_name, high = PAGE[member]
        setattr(query, field_name, _bounded(text, key, 1, high))
        query.numbered = query.numbered or member == "number"
    else:
        raise _unknown(key)
    if query.numbered and query.cursor is not None:
        raise InvalidQuery("page[cursor] and page[number] cannot be combined.", parameter=CURSOR)


def _positioned(resource, query):
    """``query`` with the position its cursor names (``cursor.decode``); 400 naming page[cursor]
    for a cursor its seal did not make for this resource, sort and filters."""
    if query.cursor:
        try:
            query.after = cursor.decode(query.seal, resource, query, query.terms, query.cursor)
        except ValueError:
            raise refused_cursor() from None
    return query


def refused_cursor():
    """The one refusal of every cursor that cannot be followed: forged, garbled, foreign or stale."""
    return InvalidQuery(cursor.REFUSED, parameter=CURSOR, code="invalid_cursor")


def _listed(text, parameter, most, what):
    """The comma-separated pieces of ``text``; 400 naming ``parameter`` past ``most`` of them."""
    pieces = text.split(",", most)
    if len(pieces) > most:
        raise InvalidQuery(f"'{parameter}' takes at most {most} {what}.", parameter=parameter)
    return pieces


def _sort(resource, text):
    """The (name, descending) terms of ``sort``: at most one per sortable name."""
    names = resource.sort_names
    terms = []
    for term in _listed(text, "sort", len(names), "terms (one per sortable name)"):
        name = term[1:] if term.startswith(("-", "+")) else term
        if name not in names:
            raise InvalidQuery(f"Cannot sort {resource.name} by '{name}'.", parameter="sort")
        terms.append((name, term.startswith("-")))
    return terms


def _include(resource, key, text):
    paths = [p.strip() for p in text.split(",") if p.strip()]
    for path in paths:
        if path not in resource.include_paths:
            allowed = ", ".join(resource.include_paths)
            raise InvalidQuery(f"Cannot include '{path}' on {resource.name}; allowed: {allowed}.",
                               parameter=key)
    return paths


def _fields(resource, query, key, text):
    if key == "fields":
        target = resource
    elif key.startswith("fields[") and key.endswith("]"):
        target = BY_TYPE.get(key[7:-1]) or RESOURCES.get(key[7:-1])
        if target is None:
            raise InvalidQuery(f"Unknown resource type in '{key}'.", parameter=key)
    else:
        raise _unknown(key)
    names = {n.strip() for n in text.split(",") if n.strip()}
    known = set(target.attributes) | set(target.includes) | {"id", "type"}
    unknown = sorted(names - known)
    if unknown:
        raise InvalidQuery(f"Unknown field(s) {', '.join(unknown)} for {target.type}.",
                           parameter=key)
    query.fields.setdefault(target.type, set()).update(names)
