"""How a resource is declared, and the registry of declared resources the core reads.

Each resource lives in one module of ``dataset_api.resources``: its ``Resource`` (attributes,
filters, includes, model), its write rules, who may write it and what a caller may read, and its
extra operations. The generic parts (query parsing and building, body rules, rendering, the store,
permissions) read these declarations through this registry and know no resource by name.
``verify()`` runs at start-up and stops it when a declared resource misses a piece.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

# Attribute kinds and the filter operators each accepts (DESIGN §3).
STRING_OPS = ("", "eq", "neq", "in", "match", "prefix", "suffix", "exists")
ORDERED_OPS = ("", "eq", "neq", "in", "lt", "lte", "gt", "gte", "exists")
OPERATORS = {
    "id": STRING_OPS,
    "string": STRING_OPS,
    "integer": ORDERED_OPS,
    "number": ORDERED_OPS,
    "timestamp": ORDERED_OPS,
    "object": ("", "exists"),
    "array": ("", "exists"),
    "boolean": ("",),
}


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource as the API shows it."""

    name: str
    kind: str  # id | string | integer | number | timestamp | object | array | boolean
    required: bool = False  # must be given on create
    readonly: bool = False  # set by the server; ignored when sent
    create_only: bool = False  # may be given on create, ignored afterwards
    nullable: bool = False
    enum: tuple = ()

    @property
    def operators(self):
        return OPERATORS[self.kind]

    @property
    def sortable(self):
        return self.kind not in ("object", "array")


@dataclass(frozen=True)
class Parent:
    """A to-one link held in a foreign-key attribute (``dataset_id`` -> datasets)."""

    attr: str
    resource: str


@dataclass(frozen=True)
class Include:
    """An includable relationship: to-one through ``attr`` or to-many through the child's ``attr``."""

    resource: str
    attr: str
    many: bool = False


def _project_of(get):
    """Where most records keep their project: a ``project_id`` attribute."""
    return {"project_id": get("project_id")}


@dataclass(frozen=True)
class Resource:
    """One resource: what the API shows of it and the rules that apply to it.

    Required (``verify`` names what is missing): ``model``, ``visible`` (the WHERE condition of what
    a non-admin ``user`` may read), ``write`` (who may ``create``, ``update``, ``delete`` it: a rule
    of ``auth.permissions.RULES``) and ``before_create`` (checks and fills a new record's values).
    The other hooks are optional: ``after_create(resource, row)``, ``before_update(resource, row,
    values, user)``, ``after_update(resource, row)`` (the row as written), ``before_delete(resource,
    row)``, ``after_delete(resource, row)``.
    ``permit_context(get)`` returns what the permission check needs besides the rule (the record's
    project, its entry...), from ``get(attribute)`` over the record or the new values.
    """

    name: str  # URL segment, bare plural: "entries"
    type: str  # JSON:API type: "dataset:entries"
    model: type | None  # the Peewee model
    attrs: tuple
    parents: dict = field(default_factory=dict)  # relationship name -> Parent (to-one links)
    includes: dict = field(default_factory=dict)  # relationship name -> Include
    include_paths: tuple = ()  # allowed ``included`` paths; a dotted path includes each step
    derived: dict = field(default_factory=dict)  # attr -> (parent relationship, parent attr)
    extra_filters: dict = field(default_factory=dict)  # name -> kind (resource-specific filters)
    id_kind: str = "uuid"
    key: str = "id"  # the column that is a record's id in the API (events: their uid, not their number)
    visible: Callable | None = None
    write: dict = field(default_factory=dict)  # action -> rule name
    before_create: Callable | None = None
    after_create: Callable | None = None
    before_update: Callable | None = None
    after_update: Callable | None = None
    before_delete: Callable | None = None
    after_delete: Callable | None = None
    permit_context: Callable = _project_of
    unique: dict = field(default_factory=dict)  # column of a unique constraint -> 409 detail
    # events (docs/events.md): created, updated and deleted, and these kinds besides; ``events``
    # False for a resource whose changes are never published (webhooks: a secret must not travel)
    events: bool = True
    extra_events: tuple = ()
    revised: bool = False  # keeps a revision of every change (annotations: docs/api.md, ``writes``)
    event_context: Callable | None = None  # row -> the ids its events name, beyond its own columns
    read_only: bool = False  # records made by the server: only list and show routes
    # integer columns, not attributes, that end every order before ``id`` (events: ``txid``, so
    # that the log reads in commit order: docs/events.md)
    position: tuple = ()
    # the WHERE condition of the rows every index of it may show yet (None: all), for every caller
    # (events: those whose place in commit order is settled)
    settled: Callable | None = None

    @property
    def attributes(self):
        return {a.name: a for a in self.attrs}

    @property
    def sort_names(self):
        """What an index sorts by: ``id`` and every sortable attribute. A ``sort`` names each at
        most once in effect, so it takes at most this many terms (query.py, openapi.yaml)."""
        return ("id", *(a.name for a in self.attrs if a.sortable))

    @property
    def writable(self):
        return {a.name: a for a in self.attrs if not a.readonly}


def common(*attrs):
    """``attrs`` and the two timestamps every resource has."""
    return (*attrs, Attr("created_at", "timestamp", readonly=True),
            Attr("updated_at", "timestamp", readonly=True))


def filter_keys(resource):
    """Return {query key: (attribute or extra name, operator, kind)} for every accepted filter."""
    keys = {}
    id_attr = Attr("id", "integer" if resource.id_kind == "integer" else "id")
    for attr in (id_attr, *resource.attrs):
        for op in attr.operators:
            keys[f"{attr.name}__{op}" if op else attr.name] = (attr.name, op or "", attr.kind)
    for name, kind in resource.extra_filters.items():
        base, _, op = name.partition("__")
        keys[name] = (base, op, kind)
    return keys


# --- the registry ------------------------------------------------------------------------------------

RESOURCES = {}  # name -> Resource, in registration order
BY_TYPE = {}  # JSON:API type -> Resource
ACTIONS = ("create", "update", "delete")
# Who may write, beyond reading the record (or its parent, on create); auth.permissions applies them.
WRITE_RULES = ("reader", "owner", "owner_or_assignee", "owner_or_author", "org_owner")


class IncompleteResource(Exception):
    """A declared resource misses a piece it needs; start-up stops with this message."""


def register(resource):
    """Declare ``resource``; return it. A second resource of the same name or type is an error."""
    for key, table in ((resource.name, RESOURCES), (resource.type, BY_TYPE)):
        if key in table and table[key] is not resource:
            raise IncompleteResource(f"{key}: declared twice")
    RESOURCES[resource.name] = resource
    BY_TYPE[resource.type] = resource
    return resource


def unregister(resource):
    RESOURCES.pop(resource.name, None)
    BY_TYPE.pop(resource.type, None)


def problems(resource):
    """What ``resource`` misses, as readable lines (empty when complete)."""
    found = []
    if resource.model is None:
        found.append("no model")
    if not callable(resource.visible):
        found.append("no read scope (visible)")
    if not callable(resource.before_create) and not resource.read_only:
        found.append("no create rule (before_create)")
    found += [f"no write permission for {action!r} (write)" for action in ACTIONS
              if action not in resource.write and not resource.read_only]
    found += [f"unknown write rule {rule!r} for {action!r}" for action, rule in resource.write.items()
              if rule not in WRITE_RULES]
    for name, target in [*((n, p.resource) for n, p in resource.parents.items()),
                         *((n, i.resource) for n, i in resource.includes.items())]:
        if target not in RESOURCES:
            found.append(f"relationship {name!r} names an undeclared resource {target!r}")
    for path in resource.include_paths:
        if not _walks(resource, path.split(".")):
            found.append(f"include path {path!r} does not follow declared relationships")
    return found


def _walks(resource, steps):
    include = resource.includes.get(steps[0])
    if include is None or include.resource not in RESOURCES:
        return False
    return len(steps) == 1 or _walks(RESOURCES[include.resource], steps[1:])


def verify(document=None):
    """Raise ``IncompleteResource`` naming every declared resource that misses a piece, or that
    disagrees with the contract ``document`` (openapi.yaml as a dict) where both state a fact."""
    lines = [f"{r.name}: {p}" for r in RESOURCES.values() for p in problems(r)]
    if document is not None:
        lines += [f"{r.name}: {p}" for r in RESOURCES.values() for p in disagreements(r, document)]
    if lines:
        raise IncompleteResource("incomplete resource declarations:\n  " + "\n  ".join(lines))


# --- what the contract says of a resource ---------------------------------------------------------------
# openapi.yaml is the hand-written source of the contract; a declaration restates the facts the code
# acts on (attribute names, enums, required and read-only attributes, includes). They are read from
# the operations of ``/<name>`` and ``/<name>/{id}`` and must agree.

MEDIA = "application/vnd.api+json"


def _at(document, node, *keys):
    """Follow ``keys`` from ``node``, resolving ``$ref``s and taking an ``anyOf``'s first branch."""
    for key in (*keys, None):
        while isinstance(node, dict) and ("$ref" in node or "anyOf" in node):
            if "$ref" in node:
                node = _ref(document, node["$ref"])
            else:
                node = node["anyOf"][0]
        if key is None:
            return node
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return node


def _ref(document, ref):
    node = document
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def disagreements(resource, document):
    """Where ``resource``'s declaration and the contract disagree, as readable lines."""
    paths = document.get("paths", {})
    show = paths.get(f"/{resource.name}/{{id}}", {}).get("get")
    create = paths.get(f"/{resource.name}", {}).get("post")
    if show is None or (create is None and not resource.read_only):
        return [f"openapi.yaml has no GET /{resource.name}/{{id}} or POST /{resource.name}"]
    found = []
    record = _at(document, show, "responses", "200", "content", MEDIA, "schema", "properties", "data")
    shown = _at(document, record, "properties", "attributes", "properties")
    if set(shown) != set(resource.attributes):
        found.append(f"attributes {sorted(resource.attributes)} but openapi.yaml shows {sorted(shown)}")
    for name, attr in resource.attributes.items():
        enum = _at(document, shown.get(name, {})).get("enum")
        if attr.enum and tuple(enum or ()) != attr.enum:
            found.append(f"{name} is one of {list(attr.enum)} but openapi.yaml says {enum}")
    related = set(_at(document, record, "properties", "relationships", "properties"))
    if related != {*resource.parents, *resource.includes}:
        found.append(f"relationships {sorted({*resource.parents, *resource.includes})} but openapi.yaml "
                     f"shows {sorted(related)}")
    if create is not None:  # a read-only resource has no create
        found += _create_disagreements(resource, document, create)
    for parameter in show.get("parameters", []):
        parameter = _at(document, parameter)
        if parameter.get("name") == "included":
            listed = _at(document, parameter, "schema", "items").get("enum", [])
            if tuple(listed) != resource.include_paths:
                found.append(f"include paths {list(resource.include_paths)} but openapi.yaml says {listed}")
    return found


def _create_disagreements(resource, document, create):
    found = []
    data = _at(document, create, "requestBody", "content", MEDIA, "schema", "properties", "data")
    sent = _at(document, data, "properties", "attributes")
    required = {name for name, attr in resource.attributes.items() if attr.required}
    # a parent may come as an attribute or as a relationship where the body says so with a `not`
    # (neither given): then one of the two is required, and the attribute alone is not
    neither = data.get("not", {}).get("properties", {})
    if neither:
        parents = {parent.attr: name for name, parent in resource.parents.items() if parent.attr in required}
        named = (neither.get("attributes", {}).get("not", {}).get("required", []),
                 neither.get("relationships", {}).get("not", {}).get("required", []))
        if named != (list(parents), list(parents.values())):
            found.append(f"a new record names its parent as {list(parents)} or {list(parents.values())} "
                         f"but openapi.yaml's create body requires one of {named[0]} or {named[1]}")
        required -= set(parents)
    if set(sent.get("required", ())) != required:
        found.append(f"required on create {sorted(required)} but openapi.yaml says "
                     f"{sorted(sent.get('required', ()))}")
    for name, schema in sent.get("properties", {}).items():
        attr = resource.attributes.get(name)
        if attr is None or attr.readonly != bool(_at(document, schema).get("readOnly")):
            found.append(f"{name} on create: {'undeclared' if attr is None else 'read-only differs'}")
    return found
