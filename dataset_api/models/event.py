"""Events (the outbox), webhooks and their deliveries (docs/events.md)."""

from peewee import (
    SQL,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
    NodeList,
    TextField,
)

from dataset_api.db import db
from dataset_api.models.base import UUIDModel, utcnow, uuid7
from dataset_api.models.project import Project


class Webhook(UUIDModel):
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    url = TextField()
    events = JSONField(default=list)  # the event names it wants; empty: every event
    enabled = BooleanField(default=True, index=True)
    description = TextField(null=True)
    secret = CharField(max_length=128)
    previous_secret = CharField(max_length=128, null=True)  # still signs until the time below
    previous_secret_expires_at = DateTimeField(null=True)
    failing_since = DateTimeField(null=True)  # the first failure since the last success
    last_success_at = DateTimeField(null=True)
    disabled_reason = TextField(null=True)
    created_by_email = CharField(max_length=320, null=True, index=True)


class CommitOrder(BigIntegerField):
    """The transaction that wrote the row, filled by the database: on PostgreSQL its transaction
    id (``pg_current_xact_id()``, 64 bits, never reused), on SQLite 0 (one writer at a time, so
    ``id`` alone follows commit order). Never sent in an INSERT (``rows.insert`` leaves it out)."""

    filled_by_database = True

    def ddl(self, ctx):
        postgres = "Postgres" in type(self.model._meta.database).__name__
        default = "(pg_current_xact_id()::text::bigint)" if postgres else "0"
        return NodeList((super().ddl(ctx), SQL(f"DEFAULT {default}")))


class Event(Model):
    """One change, written in the transaction that made it. ``(txid, id)`` is its place in commit
    order (docs/events.md, "The event log"); ``uid`` is the ``webhook-id`` its deliveries carry;
    ``payload`` what webhooks and Redis receive, of which ``args`` and the ids are also columns to
    filter on."""

    id = BigAutoField()
    uid = CharField(max_length=36, unique=True, default=uuid7)
    name = CharField(max_length=64)
    resource_id = CharField(max_length=64)
    project_id = CharField(max_length=36, null=True)  # no foreign key: a project's deletion is an event
    payload = JSONField()
    at = DateTimeField(default=utcnow, index=True)
    redis_pending = BooleanField(default=False)
    dataset_id = CharField(max_length=36, null=True)
    entry_id = CharField(max_length=36, null=True)
    account_id = BigIntegerField(null=True)
    txid = CommitOrder()

    class Meta:
        database = db
        legacy_table_names = False
        indexes = (
            (("redis_pending", "id"), False),
            (("txid", "id"), False),  # the log in commit order (an admin's, a stream's)
            (("project_id", "txid", "id"), False),  # a project's log in commit order
        )

    @property
    def args(self):
        return self.payload["args"]

    @property
    def version(self):
        """Events never change: every one is at its first version (its ETag)."""
        return 1

    @classmethod
    def filter_args(cls, op, value):
        """``filter[args]`` (containment) and ``filter[args__exists]`` on the payload's args."""
        if op == "exists":
            return cls.payload["args"].is_null(not value)
        return cls.payload["args"].contains(value)


class WebhookDelivery(UUIDModel):
    """One event for one webhook: its state and its last attempt. Written with every event a
    webhook wants, so it carries only the indexes its readers need (the worker's queue and order,
    the purge, a project's and a webhook's listings), not one per column as the resources people
    write do; its other filters scan a webhook's deliveries."""

    webhook = ForeignKeyField(Webhook, on_delete="CASCADE", index=False)  # (webhook, record, event) leads
    event = ForeignKeyField(Event, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    event_name = CharField(max_length=64)
    message_id = CharField(max_length=36)  # the event's uid: the webhook-id header
    record = CharField(max_length=160)  # "<type>:<id>": a record's events are delivered in order
    status = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    locked_until = DateTimeField(null=True)
    last_attempt_at = DateTimeField(null=True)
    response_code = IntegerField(null=True)
    duration_ms = FloatField(null=True)
    last_error = TextField(null=True)
    delivered_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("webhook", "record", "event"), False),
        )


# The worker's queue: the deliveries not yet succeeded, in event order. Partial, so that the
# deliveries kept for retention after their success (most rows) are not in it.
WebhookDelivery.add_index(WebhookDelivery.index(
    WebhookDelivery.event, name="webhook_delivery_due", where=(WebhookDelivery.status != "succeeded")))
