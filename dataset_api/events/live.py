"""The live event stream (``GET /events/stream``): the event log as Server-Sent Events
(https://html.spec.whatwg.org/multipage/server-sent-events.html), with the log's filters and
visibility, resumable from any event the caller was sent.

Each stream reads the log itself, after the last event it sent, in commit order (the reads of
``GET /events``); what it waits for in between is a *hint* that the log may have grown. One
listener thread per process gives it: PostgreSQL's ``LISTEN`` (migration 0008's trigger notifies
on every insert into ``event``, on commit, from any instance), or on SQLite a look at the log's
last number every ``SQLITE_POLL_SECONDS`` (one file: every instance writes it). A hint that finds
nothing new yet (an event held back by an older transaction still running: docs/events.md) makes
the stream look again a little later, backing off. The stream's reads run in the thread pool, each
on a pooled connection held only for the read; a slow reader fills its own socket and waits there,
holding up nobody. When the server stops (SIGTERM), ``close_all`` ends every stream at once, so
the graceful shutdown is not held up by them; a stream also ends when its token expires.
"""

import asyncio
import json
import logging
import select
import sqlite3
import threading
import time

from dataset_api.db import db, is_postgresql
from dataset_api.errors import Unavailable

log = logging.getLogger("dataset_api")

CHANNEL = "dataset_api_events"  # migration 0008's trigger notifies it
SQLITE_POLL_SECONDS = 0.1
GATHER_SECONDS = 0.03  # PostgreSQL: notifications that come this close together wake the streams once
LISTEN_RETRY_SECONDS = 1.0  # the listener's connection failed: try again after this
RECHECK_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)  # after a hint that found nothing yet
PAGE = 100  # events read at a time
RETRY_MS = 2000  # the reconnection delay the stream asks EventSource to use


class Hub:
    """One per process: the open streams (bounded), the listener that wakes them, and the switch
    that ends them all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.streams = {}  # asyncio.Event -> its loop
        self.closing = False
        self.listener = None
        self.generation = 0  # wake-ups so far: a read made since the last one is current
        self.reads = {}  # (loop, key) -> the future of a read made in this generation
        self.reads_generation = 0

    def attach(self, limit):
        """A wake-up for a new stream; 503 (Retry-After) past ``limit`` open ones."""
        with self.lock:
            if len(self.streams) >= limit:
                raise Unavailable(f"This server already streams to {limit} clients "
                                  "(DATASET_API_EVENT_STREAMS); try again shortly.", code="too_many_streams")
            wake = asyncio.Event()
            self.streams[wake] = asyncio.get_running_loop()
            if self.listener is None or not self.listener.is_alive():
                self.listener = threading.Thread(target=self._listen, name="event-listener", daemon=True)
                self.listener.start()
        return wake

    def detach(self, wake):
        with self.lock:
            self.streams.pop(wake, None)

    @property
    def count(self):
        return len(self.streams)

    def wake_all(self):
        """From any thread: every stream looks at the log again (one call into each event loop)."""
        with self.lock:
            self.generation += 1
            by_loop = {}
            for wake, loop in self.streams.items():
                by_loop.setdefault(loop, []).append(wake)
        for loop, wakes in by_loop.items():
            try:
                loop.call_soon_threadsafe(_set_all, wakes)
            except RuntimeError:  # its loop has closed: its streams are gone
                pass

    async def shared(self, key, read):
        """``await read()``, or the result of the same read (``key``: the caller, its filters and
        position) another stream made since the last wake-up: streams that stand at the same
        place in the same log read it once per wake-up, not once each."""
        loop = asyncio.get_running_loop()
        if self.reads_generation != self.generation:
            self.reads, self.reads_generation = {}, self.generation
        made = self.reads.get((loop, key))
        if made is not None:
            return await asyncio.shield(made)
        future = loop.create_future()
        self.reads[(loop, key)] = future
        try:
            result = await read()
        except BaseException as exc:
            self.reads.pop((loop, key), None)
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        future.set_result(result)
        return result

    def close_all(self):
        """The server stops: every open stream ends now (and new ones end at once)."""
        self.closing = True
        self.wake_all()

    # --- the listener thread ---------------------------------------------------------------

    def _listen(self):
        """Wake the streams whenever the log may have grown, while any is open."""
        while self.count and not self.closing:
            try:
                if is_postgresql():
                    self._listen_postgresql()
                else:
                    self._poll_sqlite()
            except Exception as exc:  # the database is away: the streams' own reads say so
                log.warning("event listener: %s; again in %s s", exc, LISTEN_RETRY_SECONDS)
                time.sleep(LISTEN_RETRY_SECONDS)
        with self.lock:
            self.listener = None

    def _listen_postgresql(self):
        import psycopg2

        database = db.obj
        params = {k: v for k, v in database.connect_params.items()
                  if k in ("user", "password", "host", "port")}
        connection = psycopg2.connect(dbname=database.database, **params)
        try:
            connection.autocommit = True
            connection.cursor().execute(f"LISTEN {CHANNEL}")
            self.wake_all()  # anything committed while nobody listened
            while self.count and not self.closing and db.obj is database:
                if select.select([connection], [], [], 1.0)[0]:
                    connection.poll()
                    if connection.notifies:
                        time.sleep(GATHER_SECONDS)  # the writes of the next moment: one wake-up
                        connection.poll()
                        connection.notifies.clear()
                        self.wake_all()
        finally:
            connection.close()

    def _poll_sqlite(self):
        database = db.obj
        connection = sqlite3.connect(f"file:{database.database}?mode=ro", uri=True, timeout=5)
        try:
            last = None
            while self.count and not self.closing and db.obj is database:
                number = connection.execute('SELECT max("id") FROM "event"').fetchone()[0]
                if number != last:
                    last = number
                    self.wake_all()
                time.sleep(SQLITE_POLL_SECONDS)
        finally:
            connection.close()


HUB = Hub()


def _set_all(wakes):
    for wake in wakes:
        wake.set()


def frame(event_id, name, data):
    """One Server-Sent Event: ``id``, ``event`` and one ``data`` line (compact JSON holds no
    newline)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {name}\ndata: {text}\n\n".encode()


def comment(text):
    return f": {text}\n\n".encode()


async def run(read, *, follow, heartbeat, expires_at, limit, opening=()):
    """The stream's body: ``opening`` frames, then each batch ``read()`` (a coroutine returning
    frames, empty when there is nothing new) gives, for as long as ``follow``; a comment every
    ``heartbeat`` seconds while idle; until the token expires (``expires_at``, epoch seconds, or
    None), the client leaves or the server stops. Raises ``Unavailable`` past ``limit`` streams."""
    wake = HUB.attach(limit)

    async def body():
        try:
            yield f"retry: {RETRY_MS}\n".encode()  # a field of the first message (``opening``)
            for piece in opening:
                yield piece
            recheck, idle_since = None, time.monotonic()
            while not HUB.closing:
                frames = await read()
                if frames:  # one write to the socket for all of them
                    yield b"".join(frames)
                if len(frames) >= PAGE:
                    continue
                if not follow:
                    return
                if frames:
                    recheck, idle_since = None, time.monotonic()
                now = time.time()
                if expires_at is not None and now >= expires_at:
                    yield comment("the token has expired: reconnect with a new one")
                    return
                waits = [heartbeat - (time.monotonic() - idle_since)]
                if recheck is not None:
                    waits.append(RECHECK_SECONDS[recheck])
                if expires_at is not None:
                    waits.append(expires_at - now)
                woke = await _wait(wake, max(0.0, min(waits)))
                if woke:  # the log may have grown: if this read finds nothing, look again soon
                    recheck = 0
                elif recheck is not None:
                    recheck = recheck + 1 if recheck + 1 < len(RECHECK_SECONDS) else None
                if time.monotonic() - idle_since >= heartbeat:
                    yield comment("heartbeat")
                    idle_since = time.monotonic()
        finally:
            HUB.detach(wake)

    return body()


async def _wait(wake, seconds):
    """Wait up to ``seconds`` for a hint; True if one came."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    except TimeoutError:
        return False
    wake.clear()
    return True
