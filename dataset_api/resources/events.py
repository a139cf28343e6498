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

from connexion import request
from connexion.context import context
from peewee import SQL
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from dataset_api import crud, store
from dataset_api.auth import permissions
from dataset_api.db import db, is_postgresql
from dataset_api.errors import InvalidQuery
from dataset_api.events import live, outbox
from dataset_api.jsonapi import build, cursor, document, query
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


# --- the live stream (dataset_api/events/live.py) ---------------------------------------------------

STREAM_PARAMETERS = ("follow", "last_event_id")
RESET = ("The stream cannot resume after that event: it is past retention, or the id was not sent "
         "by this server to this caller for these filters. Reload what you show, then go on from here.")


def _last(q):
    """The last event of the log the caller reads with ``q``'s filters (its number, transaction
    and id only), or None."""
    readable = store.shown(EVENTS, Event.select(Event.txid, Event.id, Event.uid))
    return build.filtered(Event, readable, q.filters).order_by(Event.txid.desc(), Event.id.desc()).first()


def _start(q, resume):
    """Where a stream starts: (the event it starts after, or None for the start of the log; and
    whether the client must reload first). After the event ``resume`` names, from the start of
    the log (``""``), or at its end (None, or an id the stream cannot resume from)."""
    with db.connection_context():
        if resume == "":
            return None, False
        if resume is None:
            return _last(q), False
        try:
            q.after = cursor.decode(q.seal, EVENTS, q, q.terms, resume)
            txid, number = build.position(Event, store.scope(EVENTS, Event.select()), q)
            return Event(txid=txid, id=number, uid=q.after["row"]), False
        except (ValueError, InvalidQuery):
            return _last(q), True
        finally:
            q.after = None


def _read(q):
    with db.connection_context():
        rows, _, _ = store.page(EVENTS, q)
    return rows


async def stream_events(follow=True, last_event_id=None):
    """``GET /events/stream``: the log as Server-Sent Events from where the client stands."""
    seal, config = crud.cursor_seal(), request.state.config
    pairs = [(k, v) for k, v in crud.query_pairs() if k not in STREAM_PARAMETERS]
    q = query.parse(EVENTS, [*pairs, ("page[cursor]", ""), ("page[size]", str(live.PAGE))], seal=seal)
    resume = request.headers.get("last-event-id", last_event_id)
    start, reset = await run_in_threadpool(_start, q, resume)
    here = cursor.encode(seal, EVENTS, q, q.terms, start) if start is not None else ""
    q.after = [start.txid, start.id] if start is not None else None
    # where the client stands, as EventSource keeps it (an id with no data dispatches nothing)
    opening = [live.frame(here, "reset", {"detail": RESET}) if reset else f"id: {here}\n\n".encode()]

    async def frames():
        rows = await run_in_threadpool(_read, q)
        last = [rows[-1].txid, rows[-1].id] if rows else q.after
        return last, [live.frame(cursor.encode(seal, EVENTS, q, q.terms, row), row.name,
                                 document.resource_object(EVENTS, row, q.fields)) for row in rows]

    fields = tuple(sorted((kind, tuple(sorted(names))) for kind, names in q.fields.items()))
    group = (seal, cursor.binding(EVENTS, q), fields)

    async def read():
        # streams of one caller, with the same filters and fields, at the same place, read once
        q.after, sent = await live.HUB.shared((*group, tuple(q.after or ())), frames)
        return sent

    body = await live.run(read, follow=follow, heartbeat=config.event_stream_heartbeat_seconds,
                          expires_at=context["token_info"].get("exp"), limit=config.event_streams,
                          opening=opening)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
