"""GET /healthz: the service is up and its database answers. GET /readyz: it may take traffic,
its database answering and its schema current (no migration of the chain left to apply)."""

import logging

import peewee
from starlette.concurrency import run_in_threadpool

from dataset_api import errors, migrations
from dataset_api.db import db

log = logging.getLogger("dataset_api.health")



def get_health():
    db.execute_sql("SELECT 1")
    return {"status": "ok"}, 200, {"Content-Type": "application/json"}


def readiness():
    """(ready, checks): ``database`` is ``ok`` or ``unreachable``; ``migrations`` is ``ok``,
    ``pending: 0003 name, …`` or ``unknown`` (the database did not answer)."""
    database = db.obj
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
            waiting = migrations.pending(database)
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        log.warning("readiness: database unreachable: %r", exc)  # the cause stays in the log
        return False, {"database": "unreachable", "migrations": "unknown"}
    if waiting:
        listed = ", ".join(f"{version:04d} {name}" for version, name in waiting)
        return False, {"database": "ok", "migrations": f"pending: {listed}"}
    return True, {"database": "ok", "migrations": "ok"}


async def get_readiness():
    """A coroutine handler: it opens (and judges) its own connection, in a worker thread, so that
    an unreachable database is its 503 with the checks, not the generic outage answer."""
    ready, checks = await run_in_threadpool(readiness)
    if ready:
        return {"status": "ready", "checks": checks}, 200, {"Content-Type": "application/json"}
    return ({"status": "unready", "checks": checks}, 503,
            {"Content-Type": "application/json", "Retry-After": str(errors.RETRY_AFTER)})
