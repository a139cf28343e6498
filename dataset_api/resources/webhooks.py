"""Webhooks (``/webhooks``) and their deliveries (``/webhook_deliveries``): where a project's events
go (docs/events.md). Managed by the project's owners; the signing secret is shown once, when it is
made (create, rotate), in the document's ``meta``. Changes to webhooks emit no events: the secret
must never travel."""

from datetime import timedelta
from urllib.parse import urlsplit

from dataset_api import crud, rules, store, writes
from dataset_api.auth import permissions
from dataset_api.db import db
from dataset_api.errors import Invalid
from dataset_api.events import outbox, signing
from dataset_api.models import Webhook, WebhookDelivery, utcnow
from dataset_api.registry import Attr, Include, Parent, Resource, common, register

PREVIOUS_SECRET_HOURS = 24  # a rotated secret keeps signing this long beside the new one
DELIVERY_STATUSES = ("pending", "retrying", "succeeded")


def _check_url(values):
    url = values.get("url")
    if url is None:
        return
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or parts.port > 0)
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or past 65535
        valid = False
    if not valid:
        raise Invalid("url must be an absolute http or https URL with a host (and a valid port).",
                      pointer="/data/attributes/url", code="invalid")
    if "@" in parts.netloc:  # every owner reads the URL, and deliveries never send credentials
        raise Invalid("url must not carry a user name or password (user:password@host): every owner "
                      "of the project reads it. Receivers authenticate deliveries by their signature.",
                      pointer="/data/attributes/url", code="invalid")


def _check_events(values):
    known = set(outbox.names())
    for n, name in enumerate(values.get("events") or ()):
        if name not in known:
            raise Invalid(f"Unknown event {name!r}; docs/events.md lists them.",
                          pointer=f"/data/attributes/events/{n}", code="invalid")
    if "events" in values:
        values["events"] = sorted(set(values["events"] or ()))


def _create(resource, values, user):
    rules.check_parents(resource, values)
    _check_url(values)
    _check_events(values)
    rules.stamp_author(values, user)
    values.setdefault("enabled", True)
    values["secret"] = signing.new_secret()


def _update(resource, row, values, user):
    _check_url(values)
    _check_events(values)
    if values.get("enabled") and not row.enabled:  # turned on again: its failures start over
        values["failing_since"] = None
        values["disabled_reason"] = None


def _owned(model):
    return lambda user: permissions.owned(user, model.project)


WEBHOOKS = register(Resource(
    "webhooks", "dataset:webhooks", Webhook,
    common(
        Attr("project_id", "id", required=True, create_only=True),
        Attr("url", "string", required=True),
        Attr("events", "array"),
        Attr("enabled", "boolean"),
        Attr("description", "string", nullable=True),
        Attr("previous_secret_expires_at", "timestamp", readonly=True, nullable=True),
        Attr("failing_since", "timestamp", readonly=True, nullable=True),
        Attr("last_success_at", "timestamp", readonly=True, nullable=True),
        Attr("disabled_reason", "string", readonly=True, nullable=True),
        Attr("created_by_email", "string", readonly=True),
    ),
    parents={"project": Parent("project_id", "projects")},
    includes={"project": Include("projects", "project_id")},
    include_paths=("project",),
    visible=_owned(Webhook),
    write={"create": "owner", "update": "owner", "delete": "owner"},
    before_create=_create,
    before_update=_update,
    events=False,
))

list_webhooks, get_webhook, _create_webhook, update_webhook, delete_webhook = crud.handlers(WEBHOOKS)


def _with_secret(response, secret):
    """The document of a webhook whose secret was just made, the secret in its ``meta``."""
    document, status, headers = response
    document["meta"] = {"secret": secret}
    return document, status, headers


def create_webhook(body):
    response = crud.create(WEBHOOKS, body)
    secret = Webhook.select(Webhook.secret).where(Webhook.id == response[0]["data"]["id"]).scalar()
    return _with_secret(response, secret)


def rotate_webhook_secret(id):
    """``POST /webhooks/{id}/rotate_secret``: a new secret, shown once; the old one keeps signing
    for ``PREVIOUS_SECRET_HOURS`` so receivers can switch without losing a delivery."""
    user = crud.current_user()
    with db.atomic():
        row = store.get_or_404(WEBHOOKS, id, lock=True)
        store.permit(WEBHOOKS, "update", user, row)
        secret, now = signing.new_secret(), utcnow()
        expires = now + timedelta(hours=PREVIOUS_SECRET_HOURS)
        writes.update(WEBHOOKS, row, {"secret": secret, "previous_secret": row.secret,
                                      "previous_secret_expires_at": expires})
    return _with_secret(crud.render_one(WEBHOOKS, store.get_or_404(WEBHOOKS, id)), secret)


WEBHOOK_DELIVERIES = register(Resource(
    "webhook_deliveries", "dataset:webhook_deliveries", WebhookDelivery,
    common(
        Attr("webhook_id", "id", readonly=True),
        Attr("project_id", "id", readonly=True),
        Attr("event_name", "string", readonly=True),
        Attr("message_id", "string", readonly=True),
        Attr("status", "string", readonly=True, enum=DELIVERY_STATUSES),
        Attr("attempts", "integer", readonly=True),
        Attr("next_attempt_at", "timestamp", readonly=True, nullable=True),
        Attr("last_attempt_at", "timestamp", readonly=True, nullable=True),
        Attr("response_code", "integer", readonly=True, nullable=True),
        Attr("duration_ms", "number", readonly=True, nullable=True),
        Attr("last_error", "string", readonly=True, nullable=True),
        Attr("delivered_at", "timestamp", readonly=True, nullable=True),
    ),
    parents={"webhook": Parent("webhook_id", "webhooks"), "project": Parent("project_id", "projects")},
    includes={"webhook": Include("webhooks", "webhook_id"), "project": Include("projects", "project_id")},
    include_paths=("webhook", "project"),
    visible=_owned(WebhookDelivery),
    events=False,
    read_only=True,
))

list_webhook_deliveries, get_webhook_delivery, *_ = crud.handlers(WEBHOOK_DELIVERIES)


def resend_webhook_delivery(id):
    """``POST /webhook_deliveries/{id}/resend``: deliver again, at once, with the same
    ``webhook-id`` (a receiver that deduplicates sees the same message)."""
    user = crud.current_user()
    with db.atomic():
        row = store.get_or_404(WEBHOOK_DELIVERIES, id, lock=True)
        store.permit(WEBHOOKS, "update", user, row)
        writes.update(WEBHOOK_DELIVERIES, row, {"status": "pending", "next_attempt_at": utcnow(),
                                                "locked_until": None})
    return crud.render_one(WEBHOOK_DELIVERIES, store.get_or_404(WEBHOOK_DELIVERIES, id), status=202)
