"""The outbox and the event log: ``emit`` writes an event, and one delivery row per webhook that
wants it, in the transaction of the change it reports, so a rolled-back change leaves no event.
Every event is written, whoever listens: the log is a resource (``GET /events``, docs/events.md)
kept for the retention period."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from dataset_api import rows
from dataset_api.auth.permissions import current_account_id
from dataset_api.db import db, is_postgresql
from dataset_api.jsonapi.values import render_timestamp
from dataset_api.models import Event, Webhook, WebhookDelivery, utcnow, uuid7
from dataset_api.registry import RESOURCES

BASE_KINDS = ("created", "updated", "deleted")


@dataclass
class Settings:
    """Bound once per process at start-up (``configure``), as the database is."""

    redis: bool = False


SETTINGS = Settings()


def configure(*, redis):
    SETTINGS.redis = bool(redis)


def names():
    """Every event name, in the order docs/events.md lists them: ``<type>:<kind>``."""
    return [f"{r.type}:{kind}" for r in RESOURCES.values() if r.events
            for kind in (*BASE_KINDS, *r.extra_events)]


def _plain(value):
    """``value`` as JSON holds it: timestamps as RFC 3339 text."""
    if isinstance(value, datetime):
        return render_timestamp(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def webhooks_of(project_id):
    """[(id, wanted event names)] of the enabled webhooks of ``project_id``: one indexed read, its
    SQL written here (on every write of the service; peewee takes longer to build it than the
    database to answer it)."""
    if project_id is None:
        return []
    param = db.param
    cursor = db.execute_sql(f'SELECT "id", "events" FROM "webhook" WHERE "project_id" = {param} '
                            f'AND "enabled" = {param}', (str(project_id), True))
    return [(hook, Webhook.events.python_value(names)) for hook, names in cursor.fetchall()]


def emit(resource, kind, resource_id, args=None, *, project_id=None, dataset_id=None, entry_id=None,
         **metadata):
    """Record the event ``<resource.type>:<kind>`` of the record ``resource_id``; call inside the
    transaction that makes the change. Returns the number of events written (0: nobody listens)."""
    ids = {"project_id": project_id, "dataset_id": dataset_id, "entry_id": entry_id}
    return emit_many(resource, kind, [(resource_id, args, {**ids, **metadata})])


def emit_many(resource, kind, items):
    """``emit`` for each ``(resource_id, args, metadata)`` of ``items`` (metadata holding the
    ``project_id``, ``dataset_id`` and ``entry_id`` they name): one read of webhooks per project,
    one INSERT of events and one of deliveries in all. One event on PostgreSQL is one statement
    that also finds the webhooks that want it and writes their deliveries: each statement is a
    round trip there, the bulk of an event's cost."""
    name, now, actor = f"{resource.type}:{kind}", utcnow(), current_account_id()
    events = []
    for resource_id, args, metadata in items:
        metadata = {"at": render_timestamp(now), "account_id": actor, "project_id": None,
                    "dataset_id": None, "entry_id": None, **_plain(metadata)}
        events.append({"uid": uuid7(), "name": name, "resource_id": str(resource_id),
                       "project_id": metadata["project_id"], "dataset_id": metadata["dataset_id"],
                       "entry_id": metadata["entry_id"], "account_id": metadata["account_id"],
                       "at": now, "redis_pending": SETTINGS.redis,
                       "payload": {"args": _plain(args or {}), "resource_id": str(resource_id),
                                   "metadata": metadata}})
    if not events:
        return 0
    if len(events) == 1 and is_postgresql():
        _event_with_deliveries(events[0], f"{resource.type}:{events[0]['resource_id']}")
        return 1
    hooks, targets = {}, []
    for event in events:
        if event["project_id"] not in hooks:
            hooks[event["project_id"]] = webhooks_of(event["project_id"])
        targets.append([hook for hook, names in hooks[event["project_id"]] if not names or name in names])
    if not any(targets):  # no delivery to write: nothing to read back
        rows.insert(Event, events)
        return len(events)
    stored = rows.insert(Event, events, key="uid")  # their ids read back, in order
    rows.insert(WebhookDelivery, [
        {"id": uuid7(), "webhook_id": hook, "event_id": event.id, "project_id": event.project_id,
         "event_name": name, "message_id": event.uid, "status": "pending", "attempts": 0,
         "record": f"{resource.type}:{event.resource_id}", "next_attempt_at": now,
         "created_at": now, "updated_at": now, "version": 1}
        for event, wanted in zip(stored, targets, strict=True) for hook in wanted])
    return len(events)


EVENT_COLUMNS = ("uid", "name", "resource_id", "project_id", "dataset_id", "entry_id", "account_id",
                 "payload", "at", "redis_pending")
# a delivery's id, made by PostgreSQL: a UUIDv7 with its event's time (the first 12 hex digits of
# the event's uid, given as ``%(uid)s``), its other digits those of md5(event uid, webhook id): as
# unique as the pair, and the same for the same ids (nothing random: tests that fix the ids see
# the same ids each run). "%%" is the driver's "%".
PG_DELIVERY_ID = (
    "substr(%(uid)s, 1, 8) || '-' || substr(%(uid)s, 10, 4) || '-7' || substr(m.h, 1, 3) || '-' || "
    "substr('89ab', (position(substr(m.h, 4, 1) IN '0123456789abcdef') - 1) %% 4 + 1, 1) || "
    "substr(m.h, 5, 3) || '-' || substr(m.h, 8, 12)")
EVENT_WITH_DELIVERIES = (  # PostgreSQL: the event, and a delivery per webhook wanting it, at once
    'WITH e AS (INSERT INTO "event" ({columns}) VALUES ({marks}) RETURNING "id") '
    'INSERT INTO "webhook_delivery" ("id", "webhook_id", "event_id", "project_id", "event_name", '
    '"message_id", "record", "status", "attempts", "next_attempt_at", "created_at", "updated_at", '
    '"version") SELECT {delivery_id}, w."id", e."id", %(project)s, %(name)s, %(uid)s, %(record)s, '
    '\'pending\', 0, %(now)s, %(now)s, %(now)s, 1 '
    'FROM e, "webhook" w CROSS JOIN LATERAL (SELECT md5(%(uid)s || w."id") AS h) m '
    'WHERE w."project_id" = %(project)s AND w."enabled" '
    'AND (w."events" = \'[]\'::jsonb OR w."events" @> jsonb_build_array(%(name)s::text))'
).format(columns=", ".join(f'"{c}"' for c in EVENT_COLUMNS),
         marks=", ".join(f"%({c})s" for c in EVENT_COLUMNS), delivery_id=PG_DELIVERY_ID)


@cache
def _event_columns():
    return tuple(rows.column(Event._meta.fields[name]) for name in EVENT_COLUMNS)


def _event_with_deliveries(event, record):
    """One event and a delivery to each enabled webhook of its project that wants it, in one
    statement (the webhooks read in it: no read before)."""
    values = {name: None if event[name] is None else to_db(event[name]) for name, to_db in _event_columns()}
    db.execute_sql(EVENT_WITH_DELIVERIES, {**values, "project": event["project_id"], "record": record,
                                           "now": event["at"]})


def context(resource, row):
    """The ids an event's metadata names for ``row`` of ``resource``: its project, dataset and
    entry (the record itself where it is one of them)."""
    found = resource.event_context(row) if resource.event_context else {}
    ids = {"project_id": getattr(row, "project_id", None), "dataset_id": getattr(row, "dataset_id", None),
           "entry_id": getattr(row, "entry_id", None), **found}
    key = {"projects": "project_id", "datasets": "dataset_id", "entries": "entry_id"}.get(resource.name)
    if key is not None:
        ids[key] = row.id
    return {k: None if v is None else str(v) for k, v in ids.items()}


def record(resource, kind, row, args=None, **metadata):
    """``emit`` for ``row`` of ``resource``, its ids read from the row; nothing for a resource whose
    declaration says it emits no events (webhooks: their secret must never travel)."""
    return record_many(resource, kind, [(row, args)], **metadata)


def record_many(resource, kind, items, **metadata):
    """``record`` for each ``(row, args)`` of ``items``, as one ``emit_many``."""
    if not resource.events:
        return 0
    return emit_many(resource, kind, [(row.id, args, {**context(resource, row), **metadata})
                                      for row, args in items])


def written(resource, row, values):
    """The attributes of ``row`` that a request wrote (``values``), as the API shows them."""
    from dataset_api.jsonapi.document import attributes

    return {k: v for k, v in attributes(resource, row).items() if k in values}
