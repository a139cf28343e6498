"""0005: the events outbox, webhooks and their deliveries (docs/events.md).

Frozen as 0001's tables are: edit the live models and add a migration instead of editing these.
"""

from peewee import (
    BigAutoField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
    TextField,
)


class Base(Model):
    class Meta:
        legacy_table_names = False


class Project(Base):
    id = CharField(primary_key=True, max_length=36)

    class Meta:
        table_name = "project"


class Stamped(Base):
    id = CharField(primary_key=True, max_length=36)
    created_at = DateTimeField(index=True)
    updated_at = DateTimeField(index=True)
    version = IntegerField()


class Webhook(Stamped):
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    url = TextField()
    events = JSONField()
    enabled = BooleanField(index=True)
    description = TextField(null=True)
    secret = CharField(max_length=128)
    previous_secret = CharField(max_length=128, null=True)
    previous_secret_expires_at = DateTimeField(null=True)
    failing_since = DateTimeField(null=True)
    last_success_at = DateTimeField(null=True)
    disabled_reason = TextField(null=True)
    created_by_email = CharField(max_length=320, null=True, index=True)

    class Meta:
        table_name = "webhook"


class Event(Base):
    id = BigAutoField()
    uid = CharField(max_length=36, unique=True)
    name = CharField(max_length=64)
    resource_id = CharField(max_length=64)
    project_id = CharField(max_length=36, null=True)
    payload = JSONField()
    created_at = DateTimeField(index=True)
    redis_pending = BooleanField()

    class Meta:
        table_name = "event"
        indexes = ((("redis_pending", "id"), False),)


class WebhookDelivery(Base):
    id = CharField(primary_key=True, max_length=36)
    version = IntegerField()
    webhook = ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
    event = ForeignKeyField(Event, on_delete="CASCADE", index=True)
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    event_name = CharField(max_length=64)
    message_id = CharField(max_length=36)
    record = CharField(max_length=160)
    status = CharField(max_length=16)
    attempts = IntegerField()
    next_attempt_at = DateTimeField(null=True)
    locked_until = DateTimeField(null=True)
    last_attempt_at = DateTimeField(null=True)
    response_code = IntegerField(null=True)
    duration_ms = FloatField(null=True)
    last_error = TextField(null=True)
    delivered_at = DateTimeField(null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "webhook_delivery"
        indexes = (
            (("webhook", "record", "event"), False),
        )


WebhookDelivery.add_index(WebhookDelivery.index(
    WebhookDelivery.event, name="webhook_delivery_due", where=(WebhookDelivery.status != "succeeded")))

TABLES = [Webhook, Event, WebhookDelivery]


def up(database):
    with database.bind_ctx([Project, *TABLES]):
        database.create_tables(TABLES)
