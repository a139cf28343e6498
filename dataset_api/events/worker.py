"""The delivery worker (``dataset-api worker``; ``serve`` runs one beside its HTTP workers): takes
due deliveries from the outbox, sends them, records each outcome; publishes events to Redis;
purges what retention lets go. Several workers, on several machines, share the work: a claimed
delivery is leased (``locked_until``), taken with ``SKIP LOCKED`` on PostgreSQL and under the
write lock on SQLite, so each is sent by one worker at a time and again only once its lease ran
out (the worker died): at least once, each time with the same ``webhook-id``."""

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import redis
from peewee import SQL, fn

from dataset_api import writes
from dataset_api.db import db, is_outage, is_postgresql, lock_until_commit
from dataset_api.events import delivery
from dataset_api.events.publish import Publisher
from dataset_api.jsonapi.values import render_timestamp
from dataset_api.models import Event, Webhook, WebhookDelivery, utcnow

log = logging.getLogger("dataset_api.events")

PUBLISH_BATCH = 500
BATCH_ROUNDS = 4  # a claim takes this many times the deliveries a worker sends at once
# The database is used from the worker's main thread only (the senders never touch it): one
# connection, and one spare for a reconnect while the first is being discarded.
WORKER_CONNECTIONS = 2
PURGE_EVERY_SECONDS = 60


def backoff(attempts, base, most):
    """The delay before attempt ``attempts + 1``: ``base`` doubled per failed attempt, at most
    ``most``, with jitter (half of it fixed, half random), so failing receivers are not hit by
    every worker at once."""
    delay = min(most, base * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


class Worker:
    def __init__(self, config):
        self.config = config
        # a claimed batch goes ``concurrency`` attempts at a time, each within the timeout: its
        # rounds and one more, and a second, before another worker may take it again (this one died)
        concurrency = max(1, config.worker_concurrency)
        self.batch = BATCH_ROUNDS * concurrency
        self.lease = timedelta(seconds=(BATCH_ROUNDS + 1) * config.webhook_timeout_seconds + 1)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook")
        self.http = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=concurrency))
        self.publisher = Publisher(config.redis_url, config.redis_prefix, config.redis_stream_maxlen) \
            if config.redis_url else None
        self.purged_at = 0.0

    def close(self):
        self.pool.shutdown(wait=True)
        self.http.close()
        if self.publisher is not None:
            self.publisher.close()

    def run(self, stop):
        """Work until ``stop`` (a threading.Event) is set; idle, look again every poll interval."""
        log.info("delivery worker started")
        while not stop.is_set():
            try:
                busy = self.step()
            except Exception as exc:  # noqa: BLE001 - the worker outlives any one round
                if isinstance(exc, redis.RedisError) or is_outage(exc):
                    # the database or Redis is out of reach (a restart, a failover): what was
                    # leased or unpublished stays in the outbox; wait, then try again
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.warning("delivery worker waits: %s unavailable: %s",
                                "Redis" if isinstance(exc, redis.RedisError) else "the database", first)
                else:  # a bug: logged with its traceback
                    log.exception("delivery worker step failed")
                busy = False
            if not busy:
                stop.wait(self.config.worker_poll_seconds)
        log.info("delivery worker stopped")

    def step(self):
        """One round: publish, deliver, purge now and then. True when there was work."""
        with db.connection_context():
            published = self.publish() if self.publisher is not None else 0
            delivered = self.deliver()
            if time.monotonic() - self.purged_at > PURGE_EVERY_SECONDS:
                self.purge()
                self.purged_at = time.monotonic()
        return bool(published or delivered)

    # --- Redis -----------------------------------------------------------------------------------

    def publish(self):
        """Publish the oldest unpublished events, in order, one worker at a time."""
        pending = Event.select(Event.id).where(Event.redis_pending == True).limit(1)  # noqa: E712
        if not pending.exists():  # a read: no write lock taken while there is nothing to do
            return 0
        with db.atomic():
            lock_until_commit("redis-publisher")
            events = list(Event.select().where(Event.redis_pending == True)  # noqa: E712
                          .order_by(Event.id).limit(PUBLISH_BATCH))
            if events:
                self.publisher.publish(events)
                Event.update(redis_pending=False).where(Event.id.in_([e.id for e in events])).execute()
        return len(events)

    # --- webhooks --------------------------------------------------------------------------------

    def _due(self, now):
        """Deliveries due now whose webhook is enabled and whose record has no earlier event still
        undelivered to that webhook (a record's events arrive in order; a retrying one holds back
        only later events of the same record)."""
        d, earlier = WebhookDelivery, WebhookDelivery.alias()
        held_back = earlier.select(SQL("1")).where(
            earlier.webhook == d.webhook, earlier.record == d.record, earlier.event < d.event,
            earlier.status != "succeeded")
        return (d.select(d.id).join(Webhook, on=(d.webhook == Webhook.id))
                .where(d.status != "succeeded", d.next_attempt_at <= now,
                       d.locked_until.is_null() | (d.locked_until < now),
                       Webhook.enabled == True, ~fn.EXISTS(held_back))  # noqa: E712
                .order_by(d.event).limit(self.batch))

    def claim(self):
        """Lease a batch of due deliveries; return them with their event and webhook."""
        now = utcnow()
        if not self._due(now).exists():  # a read first: no write lock while nothing is due
            return []
        with db.atomic():
            due = self._due(now)
            if is_postgresql():
                due = due.for_update("FOR UPDATE SKIP LOCKED", of=WebhookDelivery)
            ids = [row.id for row in due]
            if not ids:
                return []
            WebhookDelivery.update(locked_until=now + self.lease).where(WebhookDelivery.id.in_(ids)).execute()
            return list(WebhookDelivery.select(WebhookDelivery, Event, Webhook)
                        .join(Event, on=(WebhookDelivery.event == Event.id))
                        .switch(WebhookDelivery).join(Webhook, on=(WebhookDelivery.webhook == Webhook.id))
                        .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.event))

    def deliver(self):
        """Send a leased batch, ``concurrency`` at a time, then record every outcome in one
        transaction."""
        claimed = self.claim()
        if not claimed:
            return 0
        outcomes = list(self.pool.map(self._send, claimed))
        with db.atomic():
            self._record(claimed, outcomes)
        return len(claimed)

    def _send(self, row):
        now = utcnow()
        hook = row.webhook
        secrets = [hook.secret]
        if hook.previous_secret and hook.previous_secret_expires_at and hook.previous_secret_expires_at > now:
            secrets.append(hook.previous_secret)
        event = row.event
        text = delivery.body(event.name, render_timestamp(event.at), event.payload)
        return delivery.attempt(self.http, hook.url, event.uid, text, secrets,
                                allow_private=self.config.webhook_allow_private,
                                timeout=self.config.webhook_timeout_seconds)

    def _record(self, rows, outcomes):
        """Each delivery's outcome (one statement, run per row by the driver), then each webhook's:
        its last success, or the start of its failures and, past the limit, its disabling."""
        now, config = utcnow(), self.config
        params, succeeded, failed = [], set(), {}
        for row, outcome in zip(rows, outcomes, strict=True):
            attempts = row.attempts + 1
            if outcome.ok:
                status, next_at, delivered = "succeeded", None, now
                succeeded.add(row.webhook_id)
            else:
                delay = backoff(attempts, config.webhook_retry_seconds, config.webhook_retry_max_seconds)
                status, next_at, delivered = "retrying", now + timedelta(seconds=delay), None
                failed[row.webhook_id] = outcome.error
            params.append((status, attempts, next_at, now, outcome.response_code, outcome.duration_ms,
                           outcome.error, delivered, now, row.id))
        q = db.param
        db.cursor().executemany(
            f'UPDATE "webhook_delivery" SET "status" = {q}, "attempts" = {q}, "next_attempt_at" = {q}, '
            f'"last_attempt_at" = {q}, "response_code" = {q}, "duration_ms" = {q}, "last_error" = {q}, '
            f'"delivered_at" = {q}, "locked_until" = NULL, {writes.STAMP.format(param=q)} '
            f'WHERE "id" = {q}', params)
        if succeeded:
            ok = {Webhook.failing_since: None, Webhook.last_success_at: now}
            Webhook.update(writes.stamp(Webhook, ok, now)).where(Webhook.id.in_(succeeded)).execute()
        failing = set(failed) - succeeded  # a success in the batch ends the webhook's failures
        if failing:
            Webhook.update(writes.stamp(Webhook, {Webhook.failing_since: now}, now)) \
                .where(Webhook.id.in_(failing), Webhook.failing_since.is_null()).execute()
            self._disable(failing, failed, now)

    def _disable(self, failing, errors, now):
        """Disable the webhooks among ``failing`` that had no success since the limit."""
        limit = self.config.webhook_disable_after_seconds
        cutoff = now - timedelta(seconds=limit)
        for hook in Webhook.select(Webhook.id).where(Webhook.id.in_(failing), Webhook.enabled == True,  # noqa: E712
                                                      Webhook.failing_since <= cutoff):
            reason = f"No successful delivery for {limit} s; last error: {errors[hook.id]}"[:500]
            off = {Webhook.enabled: False, Webhook.disabled_reason: reason}
            Webhook.update(writes.stamp(Webhook, off, now)).where(Webhook.id == hook.id).execute()
            log.warning("webhook %s disabled: failing since before %s", hook.id, cutoff)

    # --- retention -------------------------------------------------------------------------------

    def purge(self):
        """Delete events older than the retention period, with their deliveries (delivered or not)."""
        cutoff = utcnow() - timedelta(seconds=self.config.event_retention_seconds)
        if not Event.select(Event.id).where(Event.at < cutoff).limit(1).exists():
            return 0
        with db.atomic():
            old = Event.select(Event.id).where(Event.at < cutoff)
            WebhookDelivery.delete().where(WebhookDelivery.event.in_(old)).execute()
            return Event.delete().where(Event.at < cutoff).execute()


def main(config, parent_pid=None):
    """``dataset-api worker``: run until SIGTERM or SIGINT (the batch in flight is finished)."""
    import signal

    from dataset_api import migrations
    from dataset_api.db import bind
    from dataset_api.events import outbox
    from dataset_api.processes import die_with_parent

    if parent_pid:
        die_with_parent(parent_pid)
    database = bind(config.db_url, lock_timeout_ms=config.pg_lock_timeout_ms,
                    statement_timeout_ms=config.pg_statement_timeout_ms,
                    busy_timeout_ms=config.sqlite_busy_timeout_ms, pool_size=WORKER_CONNECTIONS)
    migrations.migrate(database)
    outbox.configure(redis=config.redis_url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(config)
    try:
        worker.run(stop)
    finally:
        worker.close()
        database.close_all()
