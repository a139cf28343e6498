"""Settings, read from the environment once (``Config.from_env``) and passed in from there: to the
app factory, which hands them to each request (``RequestState``), never to module globals."""

import os
from dataclasses import dataclass, field


def _int(env, name, default):
    value = env.get(name)
    return int(value) if value not in (None, "") else default


def _float(env, name, default):
    value = env.get(name)
    return float(value) if value not in (None, "") else default


def _flag(env, name):
    return (env.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    data_dir: str = "data"
    database_url: str = ""  # empty: SQLite file in data_dir
    jwt_secret: str = ""  # HS256 secret; empty: the data folder's generated secret
    jwt_public_key: str = ""  # PEM for ES256/RS256 instead of a shared secret
    cursor_key: str = ""  # seals page[cursor]; empty: the data folder's generated key (one instance)
    max_body_bytes: int = 10 * 1024 * 1024
    max_import_bytes: int = 2 * 1024**3  # an import's body (NDJSON or CSV): DESIGN §10's exception
    rpc_batch_limit: int = 100
    public_url: str = ""  # the URL the served document names in ``servers``; empty: the request's
    trusted_proxies: str = ""  # comma list of proxy addresses/networks whose X-Forwarded-* count
    validate_responses: bool = False
    pg_lock_timeout_ms: int = 5000  # a statement waits this long for a lock, then 503 (0: no bound)
    pg_statement_timeout_ms: int = 30000  # a statement runs this long, then 503 (0: no bound)
    sqlite_busy_timeout_ms: int = 10000  # a write waits this long for SQLite's write lock, then 503
    pg_pool_size: int = 32  # PostgreSQL connections one worker process keeps open at most
    resource_modules: tuple = ()  # modules declaring resources beyond the built-in ones
    spec_path: str = ""  # the document to route and serve; empty: the packaged openapi.yaml
    metrics_dir: str = ""  # `serve`: the workers' Prometheus files; empty: <data_dir>/metrics
    # events (docs/events.md)
    redis_url: str = ""  # publish every event to Redis; empty: no Redis
    redis_prefix: str = ""  # put before every channel and stream name
    redis_stream_maxlen: int = 100_000  # the dataset:events stream keeps about this many
    event_retention_seconds: int = 30 * 24 * 3600  # then an event and its deliveries are purged
    event_streams: int = 500  # open GET /events/stream per worker process; more: 503
    event_stream_heartbeat_seconds: float = 15.0  # a comment on an idle stream this often
    webhook_allow_private: bool = False  # deliver to private, loopback and link-local addresses
    webhook_timeout_seconds: float = 10.0  # one delivery attempt, connect to last byte
    webhook_retry_seconds: float = 5.0  # the first retry's delay; doubled per attempt, with jitter
    webhook_retry_max_seconds: float = 3600.0  # the longest delay between two attempts
    webhook_disable_after_seconds: int = 3 * 24 * 3600  # failing this long without a success
    worker_poll_seconds: float = 0.5  # the worker looks for due work this often when idle
    worker_concurrency: int = 8  # deliveries in flight per worker process
    extra: dict = field(default_factory=dict)

    @property
    def db_url(self):
        return self.database_url or f"sqlite:///{os.path.join(self.data_dir, 'dataset-api.db')}"

    @property
    def metrics_path(self):
        return os.path.abspath(self.metrics_dir or os.path.join(self.data_dir, "metrics"))

    @property
    def is_default_sqlite(self):
        return not self.database_url

    @classmethod
    def from_env(cls, env=None, **overrides):
        env = os.environ if env is None else env
        values = dict(
            data_dir=env.get("DATASET_API_DATA_DIR") or "data",
            database_url=env.get("DATABASE_URL") or env.get("DATASET_API_DATABASE_URL") or "",
            jwt_secret=env.get("DATASET_API_JWT_SECRET") or "",
            jwt_public_key=env.get("DATASET_API_JWT_PUBLIC_KEY") or "",
            cursor_key=env.get("DATASET_API_CURSOR_KEY") or "",
            max_body_bytes=_int(env, "DATASET_API_MAX_BODY_BYTES", 10 * 1024 * 1024),
            max_import_bytes=_int(env, "DATASET_API_MAX_IMPORT_BYTES", 2 * 1024**3),
            rpc_batch_limit=_int(env, "DATASET_API_RPC_BATCH_LIMIT", 100),
            pg_lock_timeout_ms=_int(env, "DATASET_API_PG_LOCK_TIMEOUT_MS", 5000),
            pg_statement_timeout_ms=_int(env, "DATASET_API_PG_STATEMENT_TIMEOUT_MS", 30000),
            sqlite_busy_timeout_ms=_int(env, "DATASET_API_SQLITE_BUSY_TIMEOUT_MS", 10000),
            pg_pool_size=_int(env, "DATASET_API_PG_POOL_SIZE", 32),
            public_url=env.get("DATASET_API_PUBLIC_URL") or "",
            trusted_proxies=env.get("DATASET_API_TRUSTED_PROXIES") or "",
            metrics_dir=env.get("DATASET_API_METRICS_DIR") or "",
            redis_url=env.get("DATASET_API_REDIS_URL") or "",
            redis_prefix=env.get("DATASET_API_REDIS_PREFIX") or "",
            redis_stream_maxlen=_int(env, "DATASET_API_REDIS_STREAM_MAXLEN", 100_000),
            event_retention_seconds=_int(env, "DATASET_API_EVENT_RETENTION_SECONDS", 30 * 24 * 3600),
            event_streams=_int(env, "DATASET_API_EVENT_STREAMS", 500),
            event_stream_heartbeat_seconds=_float(env, "DATASET_API_EVENT_STREAM_HEARTBEAT_SECONDS", 15.0),
            webhook_allow_private=_flag(env, "DATASET_API_WEBHOOK_ALLOW_PRIVATE"),
            webhook_timeout_seconds=_float(env, "DATASET_API_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_retry_seconds=_float(env, "DATASET_API_WEBHOOK_RETRY_SECONDS", 5.0),
            webhook_retry_max_seconds=_float(env, "DATASET_API_WEBHOOK_RETRY_MAX_SECONDS", 3600.0),
            webhook_disable_after_seconds=_int(env, "DATASET_API_WEBHOOK_DISABLE_AFTER_SECONDS",
                                               3 * 24 * 3600),
            worker_poll_seconds=_float(env, "DATASET_API_WORKER_POLL_SECONDS", 0.5),
            worker_concurrency=_int(env, "DATASET_API_WORKER_CONCURRENCY", 8),
        )
        values.update(overrides)
        return cls(**values)


class RequestState:
    """ASGI middleware: puts the serving app's settings (``state``: its ``Config`` and what the
    app derives from it once, such as the token verifier) into each request's state, where
    request-time code reads them (``request.state.config``). Settings are per app, so two apps
    in one process never see each other's."""

    def __init__(self, app, **state):
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":  # a copy: the server's lifespan state stays as it is
            scope = {**scope, "state": {**scope.get("state", {}), **self.state}}
        await self.app(scope, receive, send)
