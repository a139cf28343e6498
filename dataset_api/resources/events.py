"""The event log (``/events``): every change the service made, as the outbox wrote it in the
change's own transaction (docs/events.md), kept for the retention period and read in commit order.

Who reads what (docs/permissions.md): owners (admins, org_owners of the organization, project
owners) every event of their projects; a worker (annotator, reviewer) the events about records it
may read now, by each record's own read scope, so an event about a record deleted since, or one
the worker may no longer read, is an owner's only.

Commit order: events are ordered by ``(txid, id)``. On PostgreSQL ``id`` comes from a sequence,
taken before commit, so a slow transaction can commit an event whose id is below one a reader has
already passed; ``txid`` is the writing transaction's id, and a reader is shown only the events of
transactions older than every one still running (``pg_snapshot_xmin``): whatever commits later
sorts after everything it was shown. SQLite writes one transaction at a time: ``id`` is commit
order there, and every ``txid`` is 0. Neither is shown: an event's id is its ``uid`` (a UUIDv7), and
its cursor names it, so no reader learns how many events other projects had.
"""

from peewee import SQL

from dataset_api import crud
from dataset_api.auth import permissions
from dataset_api.db import is_postgresql
from dataset_api.events import outbox
from dataset_api.models import Event
from dataset_api.registry import RESOURCES, Attr, Resource, register

# an event whose record is not of its name's type: an import's summary is about its dataset
RECORD_OF = {"dataset:entries:imported": "datasets"}
SETTLED = SQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


def _record_resource(name):
    return RESOURCES[RECORD_OF.get(name) or next(
        r.name for r in RESOURCES.values() if r.events and name.startswith(f"{r.type}:"))]


def _readable_records(user):
    """Events about a record ``user`` may read now, by the record's own read scope."""
    by_record = {}
    for name in outbox.names():
        by_record.setdefault(_record_resource(name).name, []).append(name)
    conditions = []
    for resource_name, names in by_record.items():
        resource = RESOURCES[resource_name]
        model = resource.model
        ids = model.id.cast("text") if resource.id_kind == "integer" else model.id
        readable = model.select(ids).where(resource.visible(user))
        conditions.append(Event.name.in_(names) & Event.resource_id.in_(readable))
    return permissions.any_of(*conditions)


def _visible(user):
    worked = permissions.worked_in(user, Event.project_id)
    if worked is None:
        return permissions.owned(user, Event.project_id)
    return permissions.owned(user, Event.project_id) | (worked & _readable_records(user))


def _settled():
    """The events whose place in commit order is final (the module's docstring); None on SQLite."""
    return Event.txid < SETTLED if is_postgresql() else None


EVENTS = register(Resource(
    "events", "dataset:events", Event,
    (
        Attr("name", "string", readonly=True),
        Attr("resource_id", "string", readonly=True),
        Attr("args", "object", readonly=True),
        Attr("account_id", "integer", readonly=True, nullable=True),
        Attr("at", "timestamp", readonly=True),
        Attr("project_id", "id", readonly=True, nullable=True),
        Attr("dataset_id", "id", readonly=True, nullable=True),
        Attr("entry_id", "id", readonly=True, nullable=True),
    ),
    key="uid",  # its number would tell how many events other projects had since
    visible=_visible,
    events=False,
    read_only=True,
    position=("txid",),
    settled=_settled,
))


def list_events():
    """``GET /events``: a page of the log, each event with the cursor that resumes after it."""
    return crud.index(EVENTS, item_cursors=True)


_list, get_event, *_ = crud.handlers(EVENTS)
