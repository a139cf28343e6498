"""The database handle: a proxy bound at start-up to SQLite (default) or PostgreSQL."""

import fcntl
import hashlib
import os
import threading
import time
from urllib.parse import unquote, urlparse

from peewee import DatabaseProxy, OperationalError
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

db = DatabaseProxy()

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),  # no committed write is lost on power failure (DESIGN §7)
    ("foreign_keys", 1),
    # 32 MiB of page cache per connection (SQLite's default is 2 MiB): a bulk write (an import
    # of thousands of entries, each in every index on entry) stays in memory until its commit
    ("cache_size", -32 * 1024),
)
SQLITE_BUSY_TIMEOUT_MS = 10000

# What a driver says when the database cannot be reached or a lock or time bound ran out: the
# request may succeed if tried again (a 503), unlike any other database error (a 500).
OUTAGE_MARKERS = ("could not connect", "connection", "server closed", "terminating",
                  "database is locked", "unable to open", "timeout", "too many clients")


class QueuedSqliteDatabase(PooledSqliteDatabase):
    """SQLite whose write transactions (BEGIN IMMEDIATE) first queue in the service: on a lock of
    their process, then on a ``flock`` of a file beside the database that its processes share.

    A writer kept waiting by SQLite polls its busy handler, which sleeps up to 100 ms between
    tries, so under many concurrent writers a few wait far longer than the rest (bench/workflow.py:
    a next p99 of 1.4 s with 16 annotators). A thread waiting on the process's lock is woken as soon
    as the writer before it commits; the one writer of each process at the file lock polls it every
    half millisecond. Writers outside the service (a backup, a shell) still meet SQLite's busy
    timeout. The wait in all stays within that timeout: what the queue took is taken off SQLite's."""

    def __init__(self, *args, busy_timeout_ms, **kwargs):
        super().__init__(*args, **kwargs)
        self._busy_ms = int(busy_timeout_ms)
        self._writer = threading.Lock()
        self._local = threading.local()  # holds: this thread holds _writer; shortened: busy_timeout cut
        self._queue_file = None if self.database == ":memory:" else f"{self.database}-writers"
        self._queue_fd = (None, None)  # (pid, descriptor): each process opens its own

    def _between_processes(self, deadline):
        """Take the lock the service's processes share (flock of a file beside the database),
        polled every half millisecond until ``deadline``; False when it was not free by then."""
        if self._queue_file is None:
            return True
        pid, fd = self._queue_fd
        if pid != os.getpid():  # a descriptor inherited over fork shares its lock with the parent
            fd = os.open(self._queue_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._queue_fd = (os.getpid(), fd)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.0005)

    def begin(self, lock_type=None):
        lock_type = lock_type or self._lock_type
        if lock_type not in ("IMMEDIATE", "EXCLUSIVE"):
            return super().begin(lock_type)
        started = time.monotonic()
        if not self._writer.acquire(timeout=self._busy_ms / 1000):
            raise OperationalError("database is locked (other writers of this process kept it)")
        self._local.holds = True
        try:
            if not self._between_processes(started + self._busy_ms / 1000):
                raise OperationalError("database is locked (writers of other processes kept it)")
            self._local.shared = True
            left = self._busy_ms - int((time.monotonic() - started) * 1000)
            if left < self._busy_ms:
                self._busy_timeout(max(left, 1))
                self._local.shortened = True
            return super().begin(lock_type)
        except BaseException:
            self._end()
            raise

    def commit(self):
        try:
            return super().commit()
        finally:
            self._end()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self._end()

    def _busy_timeout(self, ms):
        self.connection().execute(f"PRAGMA busy_timeout = {int(ms)}")

    def _end(self):
        if getattr(self._local, "shortened", False):
            self._local.shortened = False
            if not self.is_closed():
                self._busy_timeout(self._busy_ms)
        if getattr(self._local, "shared", False):
            self._local.shared = False
            fcntl.flock(self._queue_fd[1], fcntl.LOCK_UN)
        if getattr(self._local, "holds", False):
            self._local.holds = False
            self._writer.release()


def casefold(text):
    return text.casefold() if isinstance(text, str) else text


def make_database(url, lock_timeout_ms=0, statement_timeout_ms=0, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS,
                  pool_size=32):
    """Return an unconnected peewee database for ``sqlite:///path`` or ``postgresql://…``. On
    PostgreSQL every connection bounds how long a statement waits for a lock and how long it runs
    (0: no bound, for maintenance commands); on SQLite, how long a transaction waits for the write
    lock. The app passes its settings (503 past them). The pool keeps at most ``pool_size``
    PostgreSQL connections per process (docs/deploying.md: per worker, times workers, times
    instances, must fit the server's ``max_connections``)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/file.db and sqlite:////absolute/file.db, as SQLAlchemy spells them
        path = unquote(parsed.path[1:])
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Every transaction takes the write lock up front (BEGIN IMMEDIATE), so two writers
        # queue on the busy timeout instead of failing a lock upgrade half-way (DESIGN §7).
        database = QueuedSqliteDatabase(
            path or ":memory:", pragmas=(*SQLITE_PRAGMAS, ("busy_timeout", int(busy_timeout_ms))),
            lock_type="IMMEDIATE", check_same_thread=False, timeout=busy_timeout_ms / 1000,
            max_connections=32, stale_timeout=300, busy_timeout_ms=busy_timeout_ms,
        )
        # SQLite's LIKE folds ASCII only; text filters compare casefold() of both sides instead
        database.register_function(casefold, "casefold", 1, deterministic=True)
        return database
    if parsed.scheme in ("postgres", "postgresql"):
        return PooledPostgresqlDatabase(
            unquote(parsed.path.lstrip("/")) or "postgres",
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname, port=parsed.port or 5432,
            max_connections=pool_size, stale_timeout=300, timeout=10,
            options=(f"-c lock_timeout={int(lock_timeout_ms)}"
                     f" -c statement_timeout={int(statement_timeout_ms)}"),
        )
    raise ValueError(f"unsupported DATABASE_URL scheme: {parsed.scheme!r}")


def is_outage(exc):
    """True when ``exc`` (a peewee error) means the database is out of reach for now: the server
    or its file, a lock or time bound, or every connection of this worker's pool in use."""
    from peewee import InterfaceError, OperationalError

    if isinstance(exc, InterfaceError | MaxConnectionsExceeded):
        return True
    return isinstance(exc, OperationalError) and any(m in str(exc).lower() for m in OUTAGE_MARKERS)


def is_sqlite():
    return db.obj is not None and db.obj.__class__.__name__.endswith("SqliteDatabase")


def is_postgresql():
    return db.obj is not None and db.obj.__class__.__name__.endswith("PostgresqlDatabase")


def lock_until_commit(*key):
    """Make transactions that name the same ``key`` run this part one at a time, until the caller's
    transaction ends. Call inside a transaction. On PostgreSQL: a transaction-scoped advisory lock on
    a 64-bit hash of ``key`` (the same in every process); a statement after it sees what the previous
    holder committed (READ COMMITTED). On SQLite nothing to do: every write transaction already holds
    the database's write lock from its start (BEGIN IMMEDIATE)."""
    if is_postgresql():
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (int.from_bytes(digest, "big", signed=True),))


def bind(url, **timeouts):
    """Bind the proxy to the database at ``url`` (``timeouts``: see ``make_database``); return it."""
    database = make_database(url, **timeouts)
    db.initialize(database)
    return database
