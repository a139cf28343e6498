"""Glue between the HTTP route and the protocol: transactions, the batch limit, the response."""

import json
import logging

from connexion import request
from starlette.concurrency import run_in_threadpool

from dataset_api import errors, metrics
from dataset_api.db import db, is_outage, is_sqlite
from dataset_api.jsonrpc import bulk, methods, protocol

log = logging.getLogger("dataset_api")
UNAVAILABLE = -32005

MEDIA_TYPE = "application/json"


def answer(raw, atomic, batch_only=False):
    """Return the Connexion response triple for the request body ``raw``; batches are limited
    by the serving app's configuration (in the request's state: each app has its own)."""
    limit = request.state.config.rpc_batch_limit
    with db.connection_context():
        metrics.sample_pool()
        status, reply = protocol.handle(
            raw, methods.METHODS, translate=methods.translate, transaction=_transaction,
            savepoint=db.atomic, atomic=atomic, batch_limit=limit, bulk=bulk.METHODS,
            reads=methods.READS, fatal=_unavailable, on_batch=metrics.observe_rpc_batch,
            batch_only=batch_only)
    if reply is None:
        return None, 204
    headers = {"Content-Type": MEDIA_TYPE}
    if status == 503:
        headers["Retry-After"] = str(errors.RETRY_AFTER)
    return reply, status, headers


def _unavailable(exc):
    """The error every call of a request gets when the database went out of reach (or a lock or
    time bound ran out) during it; None for any other failure."""
    if not is_outage(exc):
        return None
    log.error("database unavailable: %r", exc)
    return protocol.RpcError(UNAVAILABLE, {"detail": errors.UNAVAILABLE, "retry_after": errors.RETRY_AFTER})


def _transaction(read_only):
    """A batch's transaction. On SQLite one that only reads does not take the write lock up front
    (BEGIN DEFERRED instead of the IMMEDIATE writes need), so it never waits for a writer;
    PostgreSQL's readers never wait for writers."""
    return db.atomic(lock_type="DEFERRED") if read_only and is_sqlite() else db.atomic()


def error_body(code, data):
    """A reply for errors raised before the protocol runs (401, 413, 415, 503)."""
    return json.dumps(protocol.RpcError(code, data).reply(None)).encode()


async def call_annotations_rpc(atomic=None):
    """``POST /annotations/_rpc``: JSON-RPC 2.0 over the raw body (parse errors are the protocol's);
    the calls run in a worker thread, each on the database connection ``answer`` opens."""
    raw = await request.body()
    return await run_in_threadpool(answer, raw, atomic in ("true", "1", "yes", "t"))


async def call_annotations_rpc_batch(atomic=None):
    """``POST /annotations/_rpc/batch``: the same protocol, for a batch (an array) only, so that
    generated clients have an operation whose body and answer are arrays."""
    raw = await request.body()
    return await run_in_threadpool(answer, raw, atomic in ("true", "1", "yes", "t"), True)
