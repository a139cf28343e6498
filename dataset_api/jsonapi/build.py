"""Applies a parsed ``Query`` to a peewee select: filters, sorting, paging, counting, includes.

This is the only module that turns JSON:API query terms into SQL.
"""

import operator

from peewee import NodeList, fn

from dataset_api.db import casefold, is_sqlite
from dataset_api.jsonapi.query import order, refused_cursor
from dataset_api.registry import RESOURCES

TEXT_MATCH = {"match": "contains", "prefix": "startswith", "suffix": "endswith"}


def model_of(resource):
    return resource.model


def column(model, name):
    return model._meta.columns[name]


def condition(model, flt):
    """Return the peewee expression for one ``Filter``."""
    custom = getattr(model, f"filter_{flt.name}", None)
    if custom is not None:
        return custom(flt.op, flt.value)
    col = column(model, flt.name)
    op, value = flt.op, flt.value
    if op == "exists":
        return col.is_null(not value)
    if flt.kind in ("object", "array"):
        return col.contains(value)
    if op in ("", "eq"):
        return col == value
    if op == "neq":
        return (col != value) | col.is_null()
    if op == "in":
        return col.in_(value)
    if op in ("lt", "lte", "gt", "gte"):
        return getattr(operator, op.replace("lte", "le").replace("gte", "ge"))(col, value)
    if op in TEXT_MATCH:  # ILIKE on PostgreSQL, %, _ and \ escaped by peewee
        if is_sqlite():  # LIKE folds ASCII only: compare Unicode case folds instead
            col, value = fn.casefold(col), casefold(value)
        return getattr(col, TEXT_MATCH[op])(value)
    raise ValueError(f"unknown operator {op!r}")


def filtered(model, select, filters):
    if not filters:
        return select
    # one flat AND list: a left-nested tree of 100 filters overflows SQLite's parser stack
    return select.where(NodeList([condition(model, f) for f in filters], glue=" AND ", parens=True))


def ordered(model, select, sort, tail=()):
    """Order by the requested terms, then by id so pages never overlap or skip. NULL is the
    greatest value, on every database: last ascending, first descending (PostgreSQL's default;
    SQLite is told so, since its own default is the opposite)."""
    terms = []
    for name, desc in order(sort, tail):
        col = column(model, name)
        nulls = ("FIRST" if desc else "LAST") if col.null else None
        terms.append(col.desc(nulls=nulls) if desc else col.asc(nulls=nulls))
    return select.order_by(*terms)


def position(model, readable, query):
    """The sort values the cursor of ``query`` continues after. A cursor that names a row (its
    values were too long to carry) is read through ``readable`` (the caller's read scope of
    ``model``): a row deleted since, or no longer readable, is the refusal of every bad cursor,
    so a cursor never tells whether a row exists that its caller may not read."""
    keys = query.after
    if isinstance(keys, dict):
        cols = [column(model, name) for name, _ in query.terms]
        keys = readable.select(*cols).where(column(model, query.key) == keys["row"]).tuples().first()
        if keys is None:
            raise refused_cursor()
    return keys


def after(model, query, keys):
    """The rows after ``keys`` (the cursor's position: ``position``) in the order of ``query.sort``,
    as conditions to run one after the other (keyset paging): for each term from the last to the
    first, the rows equal to the cursor on the terms before it and beyond it on that term. In that
    sequence they are the rows after the cursor in order, and each is one range of an index that
    holds the order (``dataset_id``, then the terms), so a page costs what the first does; one OR
    of them all would be a range on the leading term only, read from the start of the cursor's
    group."""
    terms = query.terms
    conditions = []
    for i in reversed(range(len(terms))):
        (name, desc), key = terms[i], keys[i]
        beyond = _beyond(column(model, name), desc, key)
        if beyond is None:
            continue
        same = [column(model, n).is_null() if k is None else column(model, n) == k
                for (n, _), k in zip(terms[:i], keys[:i], strict=True)]
        conditions.append(NodeList([*same, beyond], glue=" AND ", parens=True))
    return conditions


def _beyond(col, desc, key):
    """Rows whose ``col`` comes after ``key`` (NULL being the greatest value), or None if none can."""
    if key is None:
        return col.is_null(False) if desc else None
    if desc:
        return col < key
    return (col > key) | col.is_null() if col.null else col > key


def page(model, select, query, readable):
    """Return (rows, has_more): one row more than the page size tells whether a next page exists.
    A cursor's page is read from where ``after`` puts it, one of its conditions after the other
    until the page is full (mostly the first: the rows that tie with the cursor on the leading
    terms); a numbered page is skipped to (OFFSET). ``readable``: the caller's read scope of
    ``model`` (``position``)."""
    want = query.page_size + 1
    if query.after is None:
        offset = 0 if query.cursor is not None else (query.page_number - 1) * query.page_size
        rows = list(select.limit(want).offset(offset))
    else:
        rows = []
        for condition in after(model, query, position(model, readable, query)):
            rows.extend(select.where(condition).limit(want - len(rows)))
            if len(rows) == want:
                break
    return rows[: query.page_size], len(rows) > query.page_size


def _tree(paths):
    tree = {}
    for path in paths:
        node = tree
        for step in path.split("."):
            node = node.setdefault(step, {})
    return tree


def _chunks(items, size=500):
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i:i + size]


def includes(resource, rows, paths, scope=None):
    """Load included records for ``rows``.

    Returns (included, to_many): ``included`` maps (type, id) -> (resource, row) without the
    primary rows; ``to_many`` maps (type, id, relationship) -> list of related ids.
    ``scope(resource, select)`` narrows every query to what the caller may read.
    """
    primary = {(resource.type, str(r.id)) for r in rows}
    included, to_many = {}, {}
    _load(resource, rows, _tree(paths), included, to_many, scope)
    for key in primary:
        included.pop(key, None)
    return included, to_many


def _load(resource, rows, tree, included, to_many, scope):
    for name, subtree in tree.items():
        rel = resource.includes[name]
        target = RESOURCES[rel.resource]
        model = model_of(target)
        select = model.select()
        if scope is not None:
            select = scope(target, select)
        related = []
        if rel.many:
            parent_ids = [r.id for r in rows]
            fk = column(model, rel.attr)
            for chunk in _chunks(parent_ids):
                related.extend(select.where(fk.in_(chunk)).order_by(model.id))
            by_parent = {}
            for child in related:
                by_parent.setdefault(str(getattr(child, rel.attr)), []).append(str(child.id))
            for r in rows:
                to_many[(resource.type, str(r.id), name)] = by_parent.get(str(r.id), [])
        else:
            ids = {getattr(r, rel.attr) for r in rows} - {None}
            for chunk in _chunks(ids):
                related.extend(select.where(model.id.in_(chunk)))
        for row in related:
            included.setdefault((target.type, str(row.id)), (target, row))
        if subtree and related:
            _load(target, related, subtree, included, to_many, scope)
