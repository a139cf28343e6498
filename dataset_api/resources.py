"""Every resource declared once, as data: attributes, rules, filters, sorts and includes.

The query parser, the query builder, the body rules and the document renderer read these
declarations; handlers hold no field lists (see docs/design-choices.md).
"""

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
}


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource as the API shows it."""

    name: str
    kind: str  # id | string | integer | number | timestamp | object | array
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


@dataclass(frozen=True)
class Resource:
    name: str  # URL segment, bare plural: "entries"
    type: str  # JSON:API type: "dataset:entries"
    model: str  # model class name in dataset_api.models
    attrs: tuple
    parents: dict = field(default_factory=dict)  # relationship name -> Parent (to-one links)
    includes: dict = field(default_factory=dict)  # relationship name -> Include
    derived: dict = field(default_factory=dict)  # attr -> (parent relationship, parent attr)
    extra_filters: dict = field(default_factory=dict)  # name -> kind (resource-specific filters)
    id_kind: str = "uuid"

    @property
    def attributes(self):
        return {a.name: a for a in self.attrs}

    @property
    def writable(self):
        return {a.name: a for a in self.attrs if not a.readonly}


def _common(*attrs):
    return (*attrs, Attr("created_at", "timestamp", readonly=True),
            Attr("updated_at", "timestamp", readonly=True))


ROLES = ("project_owner", "reviewer", "annotator")
WF_STEPS = ("annotate", "review", "done", "error")
ENTRY_STATUSES = ("pending", "in_progress", "completed", "errored")
DATASET_STATUSES = ("pending", "in_progress", "completed")

PROJECTS = Resource(
    "projects", "dataset:projects", "Project",
    _common(
        Attr("name", "string", required=True),
        Attr("description", "string", nullable=True),
        Attr("organization_id", "integer", required=True),
        Attr("created_by_email", "string", readonly=True),
    ),
    includes={"datasets": Include("datasets", "project_id", many=True),
              "project_members": Include("project_members", "project_id", many=True)},
)

PROJECT_MEMBERS = Resource(
    "project_members", "dataset:project_members", "ProjectMember",
    _common(
        Attr("project_id", "id", required=True, create_only=True),
        Attr("account_id", "integer", required=True, create_only=True),
        Attr("name", "string", nullable=True),
        Attr("email", "string", required=True),
        Attr("role", "string", required=True, enum=ROLES),
        Attr("invited_by_id", "integer", readonly=True, nullable=True),
        Attr("disabled_at", "timestamp", nullable=True),
    ),
    parents={"project": Parent("project_id", "projects")},
    includes={"project": Include("projects", "project_id")},
    extra_filters={"enabled": "boolean", "organization_id": "integer",
                   "organization_id__in": "integer_list"},
    id_kind="integer",
)

DATASETS = Resource(
    "datasets", "dataset:datasets", "Dataset",
    _common(
        Attr("project_id", "id", required=True, create_only=True),
        Attr("name", "string", required=True),
        Attr("labels", "array"),
        Attr("modality", "string", required=True, create_only=True),
        Attr("labeling_configuration", "object"),
        Attr("workflow_configuration", "object"),
        Attr("status", "string", readonly=True, enum=DATASET_STATUSES),
        Attr("progress", "number", readonly=True),
        Attr("entries_total_count", "integer", readonly=True),
        Attr("entries_completed_count", "integer", readonly=True),
        Attr("entries_in_progress_count", "integer", readonly=True),
    ),
    parents={"project": Parent("project_id", "projects")},
    includes={"project": Include("projects", "project_id"),
              "entries": Include("entries", "dataset_id", many=True)},
)

ENTRIES = Resource(
    "entries", "dataset:entries", "Entry",
    _common(
        Attr("dataset_id", "id", required=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("priority", "integer"),
        Attr("resource", "string", required=True),
        Attr("job_id", "string", nullable=True),
        Attr("wf_step", "string", readonly=True, enum=WF_STEPS),
        Attr("status", "string", readonly=True, enum=ENTRY_STATUSES),
        Attr("assigned_to_id", "integer", readonly=True, nullable=True),
        Attr("submitted_by_id", "integer", readonly=True, nullable=True),
        Attr("reviewed_by_id", "integer", readonly=True, nullable=True),
        Attr("error_message", "string", readonly=True, nullable=True),
    ),
    parents={"dataset": Parent("dataset_id", "datasets"), "project": Parent("project_id", "projects")},
    includes={"dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id"),
              "annotations": Include("annotations", "entry_id", many=True),
              "note_feeds": Include("note_feeds", "entry_id", many=True)},
    derived={"project_id": ("dataset", "project_id")},
    extra_filters={"participated": "integer", "assigned": "boolean"},
)

ANNOTATIONS = Resource(
    "annotations", "dataset:annotations", "Annotation",
    _common(
        Attr("entry_id", "id", required=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("dataset_id", "id", readonly=True),
        Attr("dimensions", "object", required=True),
        Attr("annotation", "object", required=True),
        Attr("metadata", "object"),
        Attr("created_by_email", "string", readonly=True),
    ),
    parents={"entry": Parent("entry_id", "entries"), "dataset": Parent("dataset_id", "datasets"),
             "project": Parent("project_id", "projects")},
    includes={"entry": Include("entries", "entry_id"), "dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id")},
    derived={"project_id": ("entry", "project_id"), "dataset_id": ("entry", "dataset_id")},
)

NOTE_FEEDS = Resource(
    "note_feeds", "dataset:note_feeds", "NoteFeed",
    _common(
        Attr("entry_id", "id", required=True, create_only=True),
        Attr("annotation_id", "id", nullable=True, create_only=True),
        Attr("project_id", "id", readonly=True),
        Attr("dataset_id", "id", readonly=True),
        Attr("anchor_type", "string", enum=("entry", "annotation"), create_only=True),
        Attr("position", "object", nullable=True),
        Attr("status", "string", readonly=True, enum=("pending", "resolved")),
        Attr("content_md", "string", required=True),
        Attr("created_by_email", "string", readonly=True),
        Attr("edited_at", "timestamp", readonly=True, nullable=True),
    ),
    parents={"entry": Parent("entry_id", "entries"), "annotation": Parent("annotation_id", "annotations"),
             "dataset": Parent("dataset_id", "datasets"), "project": Parent("project_id", "projects")},
    includes={"entry": Include("entries", "entry_id"),
              "annotation": Include("annotations", "annotation_id"),
              "note_comments": Include("note_comments", "note_feed_id", many=True),
              "dataset": Include("datasets", "dataset_id"),
              "project": Include("projects", "project_id")},
    derived={"project_id": ("entry", "project_id"), "dataset_id": ("entry", "dataset_id")},
)

NOTE_COMMENTS = Resource(
    "note_comments", "dataset:note_comments", "NoteComment",
    _common(
        Attr("note_feed_id", "id", required=True, create_only=True),
        Attr("content_md", "string", required=True),
        Attr("created_by_email", "string", readonly=True),
        Attr("edited_at", "timestamp", readonly=True, nullable=True),
    ),
    parents={"note_feed": Parent("note_feed_id", "note_feeds")},
    includes={"note_feed": Include("note_feeds", "note_feed_id")},
)

RESOURCES = {r.name: r for r in (PROJECTS, PROJECT_MEMBERS, DATASETS, ENTRIES, ANNOTATIONS,
                                 NOTE_FEEDS, NOTE_COMMENTS)}
BY_TYPE = {r.type: r for r in RESOURCES.values()}

# Allowed include paths per resource (DESIGN §3); a dotted path includes each step along it.
INCLUDE_PATHS = {
    "entries": ("dataset", "dataset.project", "project", "annotations", "note_feeds"),
    "annotations": ("entry", "dataset", "project"),
    "datasets": ("project", "entries"),
    "projects": ("datasets", "project_members"),
    "project_members": ("project",),
    "note_feeds": ("entry", "annotation", "note_comments", "dataset", "project"),
    "note_comments": ("note_feed",),
}


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
