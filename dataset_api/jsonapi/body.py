"""Pure reading of a JSON:API request body into attribute values (https://jsonapi.org/format/#crud).

The spec has already checked the shape and types; this applies the rules the schema cannot say:
the type must match, read-only attributes are dropped, parents may come as relationships, and
text that is stored or looked up holds no U+0000 or unpaired surrogate (PostgreSQL cannot store
them; the keys of free-form objects are the one place the schema cannot say so). Ignored members
(``meta``, ``links``, read-only attributes and relationships) are never a reason to refuse.
"""

from contextlib import contextmanager

from dataset_api.errors import ApiError, Conflict, Invalid
from dataset_api.jsonapi import values


def check_type(resource, data):
    """Raise 409 unless ``data.type`` is the resource's type or its bare plural."""
    given = data.get("type")
    if given not in (resource.type, resource.name):
        raise Conflict(f"Type {given!r} does not match this endpoint; expected {resource.type!r}.",
                       code="type_mismatch",
                       pointer="/data/type")


def attributes(resource, data, *, creating):
    """Return the writable attributes of ``data`` (parents from relationships merged in)."""
    given = _members(data, "attributes")
    out = {}
    for name, value in given.items():
        attr = resource.attributes.get(name)
        if attr is None:  # the schema forbids unknown names; kept as a guard for RPC callers
            raise Invalid(f"Unknown attribute '{name}'.", pointer=f"/data/attributes/{name}")
        if attr.readonly or (attr.create_only and not creating):
            continue
        pointer = f"/data/attributes/{name}"
        _storable(value, pointer)
        out[name] = _typed(attr, value, pointer)
    for name, rel in _members(data, "relationships").items():
        parent = resource.parents.get(name)
        pointer = f"/data/relationships/{name}"
        if parent is None or resource.attributes[parent.attr].readonly:
            continue  # derived and to-many relationships are read-only: sent back, ignored
        if not creating and resource.attributes[parent.attr].create_only:
            continue
        linkage = rel.get("data") if isinstance(rel, dict) else None
        value = linkage.get("id") if isinstance(linkage, dict) else None
        _storable(value, f"{pointer}/data/id")
        if parent.attr in out and value is not None and str(out[parent.attr]) != str(value):
            raise Conflict(f"'{parent.attr}' and relationship '{name}' disagree.", pointer=pointer,
                           code="parent_mismatch")
        if value is not None:
            out.setdefault(parent.attr, value)
    if creating:
        for attr in resource.attrs:
            if attr.required and out.get(attr.name) is None:
                raise Invalid(f"'{attr.name}' is required.",
                              pointer=f"/data/attributes/{attr.name}", code="required")
    return out


@contextmanager
def pointing_at(resource, data):
    """Make errors about a parent given only as a relationship point at that relationship."""
    relationships, attributes = data.get("relationships"), data.get("attributes")
    relationships = relationships if isinstance(relationships, dict) else {}
    attributes = attributes if isinstance(attributes, dict) else {}
    moved = {f"/data/attributes/{parent.attr}": f"/data/relationships/{name}"
             for name, parent in resource.parents.items()
             if name in relationships and parent.attr not in attributes}
    try:
        yield
    except ApiError as exc:
        for error in exc.errors:
            source = error.get("source") or {}
            if source.get("pointer") in moved:
                source["pointer"] = moved[source["pointer"]]
        raise


TEXT_DETAIL = "Text may not contain U+0000 or unpaired surrogates."


def _members(data, name):
    """``data[name]`` as an object ({} when absent or null); 422 when it is anything else."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"'{name}' must be an object.", pointer=f"/data/{name}")
    return value


def _storable(value, pointer):
    """Raise 422 pointing at the first string or object key in ``value`` the database cannot
    store faithfully (U+0000, an unpaired surrogate)."""
    where = values.bad_text(value, pointer)
    if where is not None:
        raise Invalid(TEXT_DETAIL, pointer=where)


def _typed(attr, value, pointer):
    if value is None:
        if not attr.nullable:
            raise Invalid(f"'{attr.name}' cannot be null.", pointer=pointer)
        return None
    if attr.kind == "timestamp":
        try:
            return values.to_timestamp(str(value))
        except ValueError as exc:
            raise Invalid(f"'{attr.name}': {exc}.", pointer=pointer) from None
    if attr.kind in ("string",) and isinstance(value, str) and attr.required and not value.strip():
        raise Invalid(f"'{attr.name}' cannot be blank.", pointer=pointer)
    return value
