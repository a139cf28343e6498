"""Pure rendering of rows into JSON:API documents (https://jsonapi.org/format/#document-structure).

No database access happens here: rows, included records and counts come in ready.
"""

from urllib.parse import urlencode

from dataset_api.jsonapi.values import render_timestamp
from dataset_api.registry import RESOURCES


def attribute_value(attr, value):
    if value is None:
        return None
    if attr.kind == "timestamp":
        return render_timestamp(value)
    if attr.kind == "id":
        return str(value)
    return value


def attributes(resource, row):
    """Return every attribute of ``row`` as the API shows it."""
    return {a.name: attribute_value(a, getattr(row, a.name)) for a in resource.attrs}


def resource_object(resource, row, fields=None, to_many=None):
    """Return the JSON:API resource object for ``row``; ``fields`` restricts members."""
    wanted = fields.get(resource.type) if fields else None
    rid = str(getattr(row, resource.key))
    attrs = {k: v for k, v in attributes(resource, row).items() if wanted is None or k in wanted}
    rels = {}
    for name, parent in resource.parents.items():
        if wanted is None or name in wanted:
            value = getattr(row, parent.attr)
            data = {"type": RESOURCES[parent.resource].type, "id": str(value)} if value else None
            rels[name] = {"data": data}
    for name, inc in resource.includes.items():
        key = (resource.type, rid, name)
        if inc.many and to_many and key in to_many and (wanted is None or name in wanted):
            target = RESOURCES[inc.resource].type
            rels[name] = {"data": [{"type": target, "id": i} for i in to_many[key]]}
    obj = {"type": resource.type, "id": rid, "attributes": attrs}
    if rels:
        obj["relationships"] = rels
    obj["links"] = {"self": f"/{resource.name}/{rid}"}
    return obj


def _included(included, fields, to_many):
    return [resource_object(res, row, fields, to_many) for res, row in included.values()]


def single(resource, row, query=None, included=None, to_many=None):
    """Return the document for one resource."""
    fields = query.fields if query else None
    doc = {"data": resource_object(resource, row, fields, to_many)}
    if query and query.include:
        doc["included"] = _included(included or {}, fields, to_many)
    doc["links"] = {"self": f"/{resource.name}/{getattr(row, resource.key)}"}
    return doc


def collection(resource, rows, query, *, params, has_more, count=None, included=None,
               to_many=None, next_cursor=None):
    """Return the document for one page of ``resource``; ``params`` are the request's pairs,
    ``next_cursor`` the next page's when ``query`` pages by cursor."""
    doc = {"data": [resource_object(resource, r, query.fields, to_many) for r in rows]}
    if query.include:
        doc["included"] = _included(included or {}, query.fields, to_many)
    if query.cursor is not None:
        meta = {"page": {"size": query.page_size, "next_cursor": next_cursor}}
    else:
        meta = {"page": {"number": query.page_number, "size": query.page_size}}
    if count is not None:
        meta["count"] = count
        if query.cursor is None:
            meta["page"]["total"] = max(1, -(-count // query.page_size))
    doc["meta"] = meta
    if query.cursor is not None:
        doc["links"] = _cursor_links(resource, query, params, next_cursor)
    else:
        doc["links"] = _links(resource, query, params, has_more, count)
    return doc


def _base(params):
    """The request's pairs without its paging."""
    return [(k, v) for k, v in params if k not in ("page[number]", "page[size]", "page[cursor]")]


def _links(resource, query, params, has_more, count):
    base = _base(params)

    def url(number):
        pairs = [*base, ("page[number]", str(number)), ("page[size]", str(query.page_size))]
        return f"/{resource.name}?{urlencode(pairs)}"

    number = query.page_number
    links = {"self": url(number), "first": url(1)}
    links["prev"] = url(number - 1) if number > 1 else None
    links["next"] = url(number + 1) if has_more else None
    if count is not None:
        links["last"] = url(max(1, -(-count // query.page_size)))
    return links


def _cursor_links(resource, query, params, next_cursor):
    """Cursor paging goes forward only: this page, the first (an empty cursor) and the next."""
    base = _base(params)

    def url(cursor):
        pairs = [*base, ("page[cursor]", cursor), ("page[size]", str(query.page_size))]
        return f"/{resource.name}?{urlencode(pairs)}"

    return {"self": url(query.cursor), "first": url(""),
            "next": url(next_cursor) if next_cursor is not None else None}
