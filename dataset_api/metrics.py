"""Prometheus metrics, and ``GET /metrics`` (the text exposition format 0.0.4).

Under ``dataset-api serve`` the process runs prometheus-client's multiprocess mode: ``cli.serve``
sets ``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus_client, each worker writes
its samples to files there, and whichever worker answers a scrape merges every worker's files.
Without that variable (the app in a test client, one process) the default registry is served.

Labels hold only names the service chooses (operationIds, statuses, actions), never anything a
request carries: no ids, emails, organizations or raw paths (docs/design-choices.md).
"""


from connexion.lifecycle import ConnexionResponse
from playhouse.pool import PooledDatabase
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.concurrency import run_in_threadpool

from dataset_api.db import db

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNROUTED = "unrouted"  # the operation label of a request no operation answered (no route, refused
# before routing: 406, 413, 414, 415; the served document and Swagger UI)

REQUESTS = Counter(
    "dataset_api_http_requests", "HTTP requests answered, by operationId and status.",
    ["operation", "status"])
LATENCY = Histogram(
    "dataset_api_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer, by operationId and status.",
    ["operation", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
# Pool gauges: one series per live worker (the ``pid`` label multiprocess mode adds), sampled when
# a handler takes a connection, when a request ends and at each scrape; a worker's series go when
# it exits (``mark_process_dead`` in gunicorn's child_exit hook).
POOL_IN_USE = Gauge(
    "dataset_api_db_pool_connections_in_use", "Database connections this worker has handed out.",
    multiprocess_mode="liveall")
POOL_IDLE = Gauge(
    "dataset_api_db_pool_connections_idle", "Open database connections waiting in this worker's pool.",
    multiprocess_mode="liveall")
POOL_MAX = Gauge(
    "dataset_api_db_pool_max_connections", "Most connections this worker's pool opens at once.",
    multiprocess_mode="liveall")
CLAIMS = Counter(
    "dataset_api_workflow_claims",
    "Entry claims by action (next: claimNextEntry, select: selectEntry) and outcome: claimed "
    "(handed out now), held (the caller had it already), none_left (next found nothing waiting).",
    ["action", "outcome"])
RPC_BATCH_SIZE = Histogram(
    "dataset_api_jsonrpc_batch_size", "Calls in each JSON-RPC batch (array) request, refused ones included.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000))


def observe_request(operation_id, status, seconds):
    """Count one answered request; ``operation_id`` as Connexion's routing resolved it
    (``<x-openapi-router-controller>.<operationId>``), None when no operation answered."""
    operation = operation_id.rpartition(".")[2] if operation_id else UNROUTED
    labels = {"operation": operation, "status": str(status)}
    REQUESTS.labels(**labels).inc()
    LATENCY.labels(**labels).observe(seconds)


def count_claim(action, outcome):
    CLAIMS.labels(action=action, outcome=outcome).inc()


def observe_rpc_batch(size):
    RPC_BATCH_SIZE.observe(size)


def sample_pool():
    """Record this process's connection pool (playhouse.pool: ``_in_use`` maps the connections
    handed out, ``_connections`` is the heap of idle ones). Read without the pool's lock, which a
    thread holds while it connects: the event loop calls this too, and must never wait on it."""
    database = db.obj
    if not isinstance(database, PooledDatabase):  # not bound yet
        return
    POOL_IN_USE.set(len(database._in_use))
    POOL_IDLE.set(len(database._connections))
    POOL_MAX.set(database._max_connections or 0)


def exposition():
    """Every metric in the text format: merged over every worker's files in multiprocess mode."""
    sample_pool()
    if values.ValueClass._multiprocess:  # the storage prometheus_client picked at import, not the
        # variable now (a process that imported it first keeps its in-memory values)
        registry = CollectorRegistry()  # per scrape, as the multiprocess documentation says
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def get_metrics():
    """``GET /metrics``: reads files in multiprocess mode, so off the event loop; takes no database
    connection, so it answers while the database is down."""
    body = await run_in_threadpool(exposition)
    # a response object: Connexion would want the header's exact text as the spec's media type
    # key, while its response validation compares the bare type; the spec says ``text/plain``
    return ConnexionResponse(status_code=200, body=body, content_type=CONTENT_TYPE, mimetype="text/plain")
