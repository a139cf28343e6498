"""A response streamed from a thread of its own: the thread produces byte pieces (holding what it
needs, such as a database connection, for as long as it runs) and hands them over through a
bounded channel, so the client's pace sets the thread's. The response closes the channel however
it ends; the thread's next hand-over then fails and it stops. Peewee's connections belong to
their thread, so everything the thread reads it reads there.
"""

import asyncio
import concurrent.futures
import contextvars
import logging
import threading

import anyio
from starlette.responses import StreamingResponse

log = logging.getLogger("dataset_api")

QUEUE_PIECES = 8  # pieces waiting for the client, at most
STALL_SECONDS = 300  # a client that reads nothing for this long is dropped
POLL_SECONDS = 1.0  # how often a waiting thread looks whether the response has ended


class Gone(Exception):
    """The response ended before the thread did: the client went away or stalled, or the server stops."""


class Aborted(Exception):
    """The thread failed after the response began: it cannot say so, the connection is dropped."""


class Channel:
    """The bounded stream between the thread (``put``) and the event loop (``receive``, ``close``)."""

    def __init__(self):
        self.send, self.receive = anyio.create_memory_object_stream(QUEUE_PIECES)
        self.loop = asyncio.get_running_loop()
        self.ended = threading.Event()
        self.count = 0  # items handed over

    def put(self, item):
        """Hand ``item`` over, waiting while QUEUE_PIECES wait (in the thread); raise Gone once the
        response has ended. Never waits for ever: an event loop that stopped cannot answer."""
        if self.ended.is_set() or self.loop.is_closed():
            raise Gone("the response has ended")
        coroutine = self._put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:  # the loop closed meanwhile
            coroutine.close()
            raise Gone("the event loop has stopped") from None
        while True:
            try:
                future.result(timeout=POLL_SECONDS)
                self.count += 1
                return
            except concurrent.futures.TimeoutError:
                if self.ended.is_set() or self.loop.is_closed():
                    future.cancel()
                    raise Gone("the response has ended") from None
            except concurrent.futures.CancelledError:  # the event loop is shutting down
                raise Gone("the event loop has stopped") from None

    async def _put(self, item):
        try:
            with anyio.fail_after(STALL_SECONDS):
                await self.send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise Gone("the response has ended") from None
        except TimeoutError:
            self.close()  # the response's next read fails: the server drops the connection
            raise Gone(f"the client read nothing for {STALL_SECONDS} s") from None

    def close(self):
        """End the channel (on the event loop), whatever the thread is doing."""
        self.ended.set()
        self.send.close()
        self.receive.close()


def _run(job, channel, name):
    """The thread: ``job(put)``, then None (the end), or the exception that stopped it."""
    try:
        job(channel.put)
        channel.put(None)
    except Gone as exc:
        log.info("%s stopped: %s", name, exc)
    except Exception as exc:
        if channel.count:
            log.error("%s failed while streaming", name, exc_info=exc)
        try:
            channel.put(exc)
        except Gone:
            pass


async def start(job, name):
    """Run ``job(put)`` in a thread called ``name``; return (its first item, the channel), or raise
    the exception it raised before its first item (a normal error response)."""
    channel = Channel()
    threading.Thread(target=contextvars.copy_context().run, args=(_run, job, channel, name),
                     name=name, daemon=True).start()
    try:
        first = await channel.receive.receive()
        if isinstance(first, BaseException):
            raise first
    except BaseException:
        channel.close()
        raise
    return first, channel


async def _body(receive):
    async for item in receive:
        if item is None:
            return
        if isinstance(item, BaseException):
            raise Aborted("The stream failed half-way; the response is cut short.") from item
        yield item


class ChannelResponse(StreamingResponse):
    """The channel's pieces as they come; the channel is closed however the response ends."""

    def __init__(self, channel, **kwargs):
        super().__init__(_body(channel.receive), **kwargs)
        self.channel = channel

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.channel.close()
