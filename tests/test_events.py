"""Events (docs/events.md): the outbox written with each change, delivered by the worker to a real
HTTP receiver on 127.0.0.1 (signed as Standard Webhooks says, verified with the ``standardwebhooks``
package) and to a real Redis, on SQLite and on PostgreSQL."""

import json
import time
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import redis
from standardwebhooks.webhooks import Webhook as Verifier

from dataset_api.db import db
from dataset_api.events import outbox
from dataset_api.events.worker import Worker
from dataset_api.models import Event, WebhookDelivery
from tests import factories as f
from tests.conftest import Api, app_client, make_config, token
from tests.receiver import Receiver

REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def hooked(tmp_path, answers=(), **attributes):
    """An app of its own, a receiver answering ``answers`` first, and a project with a webhook to
    it (``attributes``: the webhook's)."""
    with app_client(tmp_path) as client, Receiver(answers=answers) as receiver:
        api = Api(client, token())
        project = f.project(api)
        webhook, secret = hook(api, project, receiver.url, **attributes)
        yield SimpleNamespace(
            client=client, api=api, project=project, webhook=webhook, secret=secret, receiver=receiver
        )


@pytest.fixture
def events_api(tmp_path):
    """An app of its own (the events settings are per app) and a worker beside it, in process."""

    def build(**overrides):
        return app_client(tmp_path, **overrides)

    return build


def worker(tmp_path, **overrides):
    settings = {
        "webhook_allow_private": True,
        "webhook_retry_seconds": 0.05,
        "webhook_timeout_seconds": 5,
        **overrides,
    }
    return Worker(make_config(tmp_path, **settings))


def drain(work, rounds=50, until=None):
    """Run worker steps until nothing is due (or ``until()`` holds)."""
    for _ in range(rounds):
        busy = work.step()
        if until is not None and until():
            return
        if not busy and until is None:
            return
        time.sleep(0.02)


def hook(api, project, url, **attributes):
    resp = api.post(
        "/webhooks",
        {
            "data": {
                "type": "dataset:webhooks",
                "attributes": {"project_id": f.id_of(project), "url": url, **attributes},
            }
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["data"], body["meta"]["secret"]


def verified(secret, receiver):
    """Each message the receiver got is signed with ``secret`` (its raw body checked, as a receiver
    checks it); return the parsed bodies."""
    return [Verifier(secret).verify(text, headers) for headers, text in receiver.received]


def count(model):
    with db.connection_context():
        return model.select().count()


# --- every kind of event, signed ------------------------------------------------------------------------


def test_every_event_kind_is_delivered_with_a_valid_signature(events_api, tmp_path):
    with hooked(tmp_path) as h:
        client, api, project, receiver = h.client, h.api, h.project, h.receiver
        webhook, secret = h.webhook, h.secret
        assert "secret" not in webhook["attributes"]

        made = f.every_event(api, client, project)
        dataset, first, second = made.dataset, made.first, made.second
        drain(worker(tmp_path))
        bodies = verified(secret, receiver)

    kinds = {body["type"] for body in bodies}
    expected = set(outbox.names()) - {"dataset:projects:created", "dataset:projects:deleted"}
    assert kinds == expected, sorted(expected - kinds)
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert set(body["data"]) == {"args", "resource_id", "metadata"}
        assert body["data"]["metadata"]["project_id"] == project["id"]
        assert body["data"]["metadata"]["at"].endswith("Z")
    by_type = {body["type"]: body["data"] for body in bodies}
    assert by_type["dataset:entries:reviewed"]["args"] == {"approved": True}
    assert by_type["dataset:entries:reviewed"]["metadata"]["account_id"] == 6
    assert by_type["dataset:entries:assigned"]["args"] == {"assigned_to_id": 5}
    assert by_type["dataset:entries:selected"]["metadata"]["entry_id"] == second["id"]
    assert by_type["dataset:annotations:created"]["args"]["annotation"] == {"label": "bird"}
    assert by_type["dataset:annotations:created"]["metadata"]["entry_id"] == first["id"]
    assert by_type["dataset:datasets:updated"]["args"] == {"name": "Renamed"}
    assert by_type["dataset:datasets:completed"]["resource_id"] == dataset["id"]
    assert by_type["dataset:entries:imported"]["args"]["created"] == 1
    assert by_type["dataset:note_comments:created"]["metadata"]["entry_id"] == first["id"]
    # one webhook-id per event, each delivered once
    ids = [headers["webhook-id"] for headers, _ in receiver.messages()]
    assert len(ids) == len(set(ids))


def test_every_change_is_recorded_without_a_consumer(events_api):
    """The log keeps every event (GET /events); with no webhook and no Redis nothing is due to
    anyone: no delivery, nothing pending for Redis."""
    with events_api() as client:
        api = Api(client, token())
        f.tree(api)
        assert count(Event) > 0
        assert count(WebhookDelivery) == 0
        assert Event.select().where(Event.redis_pending == True).count() == 0  # noqa: E712


# --- a rolled-back request emits nothing ---------------------------------------------------------------


def test_a_rolled_back_request_emits_nothing(events_api, tmp_path):
    with events_api() as client, Receiver() as receiver:
        api = Api(client, token())
        tree = f.tree(api)
        hook(api, tree["project"], receiver.url)
        entry_id = tree["entries"][0]["id"]
        events, deliveries = count(Event), count(WebhookDelivery)
        batch = [
            {
                "jsonrpc": "2.0",
                "method": "create",
                "id": i,
                "params": {
                    "entry_id": entry_id if i != 2 else str(uuid.uuid4()),
                    "dimensions": {},
                    "annotation": {"i": i},
                },
            }
            for i in range(4)
        ]
        resp = client.post(
            "/annotations/_rpc?atomic=true",
            content=json.dumps(batch),
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        )
        assert resp.status_code == 200 and all("error" in r for r in resp.json())
        before = count(Event)
        f.expect(f.select(api, tree["entries"][2]), 200)
        conflict = api.delete(f"/entries/{tree['entries'][2]['id']}")  # in progress: 409
        assert conflict.status_code == 409
        assert count(Event) == before + 1 == events + 1  # the select only
        assert count(WebhookDelivery) == deliveries + 1
        drain(worker(tmp_path))
        types = receiver.types()
    assert "dataset:annotations:created" not in types
    assert types.count("dataset:entries:deleted") == 0
    assert types[-1] == "dataset:entries:selected"


# --- retries, order, disabling, re-sending ----------------------------------------------------------------


def test_a_receiver_answering_500_then_200_gets_the_event_on_retry(events_api, tmp_path):
    with hooked(tmp_path, answers=[500], events=["dataset:datasets:created"]) as h:
        api, project, receiver = h.api, h.project, h.receiver
        webhook, secret = h.webhook, h.secret
        f.dataset(api, project)
        work = worker(tmp_path)
        work.step()
        [delivery] = api.get("/webhook_deliveries").json()["data"]
        attrs = delivery["attributes"]
        assert (attrs["status"], attrs["attempts"], attrs["response_code"]) == ("retrying", 1, 500)
        assert attrs["next_attempt_at"] is not None and "HTTP 500" in attrs["last_error"]
        assert api.get(f"/webhooks/{webhook['id']}").json()["data"]["attributes"]["failing_since"]
        drain(work, until=lambda: len(receiver.received) == 2)
        drain(work)
        attrs = api.get(f"/webhook_deliveries/{delivery['id']}").json()["data"]["attributes"]
        messages = receiver.messages()
    assert (attrs["status"], attrs["attempts"], attrs["response_code"]) == ("succeeded", 2, 200)
    assert attrs["delivered_at"] and attrs["duration_ms"] >= 0
    assert [m[0]["webhook-id"] for m in messages] == [attrs["message_id"]] * 2
    verified(secret, receiver)


def test_a_retrying_event_holds_back_only_later_events_of_its_record(events_api, tmp_path):
    with hooked(tmp_path, answers=[500]) as h:
        api, project, receiver = h.api, h.project, h.receiver
        dataset = f.dataset(api, project)  # its created event: answered 500 first
        api.patch(
            f"/datasets/{dataset['id']}",
            {"data": {"type": "dataset:datasets", "id": dataset["id"], "attributes": {"name": "B"}}},
        )
        other = f.dataset(api, project, name="Other")
        work = worker(tmp_path, webhook_retry_seconds=0.5, worker_concurrency=1)
        work.step()  # the first dataset's created: 500
        work.step()  # its update waits; the other dataset's created goes
        assert [(m["type"], m["data"]["resource_id"]) for _h, m in receiver.messages()] == [
            ("dataset:datasets:created", dataset["id"]),
            ("dataset:datasets:created", other["id"]),
        ]
        drain(work, until=lambda: len(receiver.received) == 4)
        order = [(m["type"], m["data"]["resource_id"]) for _h, m in receiver.messages()]
    assert order[2:] == [
        ("dataset:datasets:created", dataset["id"]),
        ("dataset:datasets:updated", dataset["id"]),
    ]


def test_a_webhook_failing_too_long_is_disabled_and_keeps_its_events(events_api, tmp_path):
    with hooked(tmp_path, answers=[500] * 10) as h:
        api, project, receiver = h.api, h.project, h.receiver
        webhook, _ = h.webhook, h.secret
        f.dataset(api, project)
        work = worker(tmp_path, webhook_disable_after_seconds=0)
        drain(work, until=lambda: len(receiver.received) >= 2)
        drain(work)
        attrs = api.get(f"/webhooks/{webhook['id']}").json()["data"]["attributes"]
        assert attrs["enabled"] is False and "No successful delivery" in attrs["disabled_reason"]
        f.dataset(api, project, name="Later")  # a disabled webhook records nothing new
        assert len(api.get("/webhook_deliveries").json()["data"]) == 1
        sent = len(receiver.received)
        drain(work)
        assert len(receiver.received) == sent
        receiver.answers.clear()
        resp = api.patch(
            f"/webhooks/{webhook['id']}",
            {"data": {"type": "dataset:webhooks", "id": webhook["id"], "attributes": {"enabled": True}}},
        )
        assert resp.json()["data"]["attributes"]["failing_since"] is None
        drain(
            work,
            until=lambda: (
                receiver.types()[-1:] == ["dataset:datasets:created"]
                and api.get("/webhook_deliveries").json()["data"][0]["attributes"]["status"] == "succeeded"
            ),
        )
        assert api.get("/webhook_deliveries").json()["data"][0]["attributes"]["status"] == "succeeded"


def test_resend_delivers_again_with_the_same_webhook_id(events_api, tmp_path):
    with hooked(tmp_path) as h:
        api, project, receiver = h.api, h.project, h.receiver
        f.dataset(api, project)
        work = worker(tmp_path)
        drain(work)
        [delivery] = api.get("/webhook_deliveries").json()["data"]
        resp = api.post(f"/webhook_deliveries/{delivery['id']}/resend")
        assert resp.status_code == 202 and resp.json()["data"]["attributes"]["status"] == "pending"
        drain(work)
        ids = [h["webhook-id"] for h, _ in receiver.messages()]
    assert len(ids) == 2 and ids[0] == ids[1] == delivery["attributes"]["message_id"]


# --- webhooks as a resource ---------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_a_rotated_one_keeps_signing_for_a_day(events_api, tmp_path):
    with hooked(tmp_path) as h:
        api, project, receiver = h.api, h.project, h.receiver
        webhook, old = h.webhook, h.secret
        assert old.startswith("whsec_")
        shown = api.get(f"/webhooks/{webhook['id']}").json()
        assert "meta" not in shown and old not in json.dumps(shown)
        assert old not in api.get("/webhooks").text
        rotated = api.post(f"/webhooks/{webhook['id']}/rotate_secret").json()
        new = rotated["meta"]["secret"]
        assert new != old and rotated["data"]["attributes"]["previous_secret_expires_at"]
        f.dataset(api, project)
        drain(worker(tmp_path))
        messages = receiver.messages()
    verified(new, receiver)
    verified(old, receiver)
    assert len(messages[0][0]["webhook-signature"].split(" ")) == 2


def test_unknown_event_names_and_urls_are_refused(events_api):
    with events_api() as client:
        api = Api(client, token())
        project = f.project(api)
        for attributes, pointer in (
            (
                {"url": "http://example.com/h", "events": ["dataset:entries:eaten"]},
                "/data/attributes/events/0",
            ),
            ({"url": "ftp://example.com/h"}, "/data/attributes/url"),
            ({"url": "http://user:pass@example.com/h"}, "/data/attributes/url"),
            ({"url": "https://token@example.com/h"}, "/data/attributes/url"),
            ({"url": "https://:pass@example.com/h"}, "/data/attributes/url"),
        ):
            resp = api.post(
                "/webhooks",
                {
                    "data": {
                        "type": "dataset:webhooks",
                        "attributes": {"project_id": project["id"], **attributes},
                    }
                },
            )
            assert resp.status_code == 422, resp.text
            assert resp.json()["errors"][0]["source"]["pointer"] == pointer


@pytest.mark.parametrize("url", ["http://user:pass@example.com/h", "https://token@example.com/h",
                                 "https://:pass@example.com/h", "https://u%40x:p@example.com/h"])
def test_a_url_with_credentials_is_refused_on_update(events_api, url):
    """Every owner reads a webhook's URL, and deliveries never send credentials: a user name or
    password in it is a 422 (on create above), and an update leaves the stored URL as it was."""
    with events_api() as client:
        api = Api(client, token())
        webhook, _ = hook(api, f.project(api), "https://example.com/hook")
        resp = api.patch(f"/webhooks/{webhook['id']}", {"data": {
            "type": "dataset:webhooks", "id": webhook["id"], "attributes": {"url": url}}})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["source"]["pointer"] == "/data/attributes/url"
        shown = api.get(f"/webhooks/{webhook['id']}").json()["data"]["attributes"]
        assert shown["url"] == "https://example.com/hook"


def test_an_annotator_can_neither_see_nor_create_webhooks(events_api):
    with events_api() as client:
        api = Api(client, token())
        project = f.project(api)
        f.member(api, project, 5, "annotator")
        webhook, _ = hook(api, project, "https://example.com/hook")
        annotator = f.caller(client, 5)
        assert annotator.get(f"/webhooks/{webhook['id']}").status_code == 404
        assert annotator.get("/webhooks").json()["data"] == []
        resp = annotator.post(
            "/webhooks",
            {
                "data": {
                    "type": "dataset:webhooks",
                    "attributes": {"project_id": project["id"], "url": "https://example.com/mine"},
                }
            },
        )
        assert resp.status_code == 403
        assert annotator.get("/webhook_deliveries").json()["data"] == []
        owner = f.caller(client, 8)
        f.member(api, project, 8, "project_owner")
        assert owner.get(f"/webhooks/{webhook['id']}").status_code == 200


def test_a_private_address_is_refused_at_delivery_unless_allowed(events_api, tmp_path):
    with hooked(tmp_path) as h:
        api, project, receiver = h.api, h.project, h.receiver
        f.dataset(api, project)
        worker(tmp_path, webhook_allow_private=False).step()
        [delivery] = api.get("/webhook_deliveries").json()["data"]
        assert receiver.received == []
    attrs = delivery["attributes"]
    assert attrs["status"] == "retrying" and attrs["response_code"] is None
    assert "not a public address" in attrs["last_error"]


# --- Redis --------------------------------------------------------------------------------------------


def test_events_are_published_to_redis_channels_and_the_stream(events_api, tmp_path):
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    r = redis.Redis.from_url(REDIS_URL)
    pubsub = r.pubsub()
    pubsub.psubscribe(prefix + "dataset:*")
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    try:
        with events_api(redis_url=REDIS_URL, redis_prefix=prefix) as client:
            api = Api(client, token())
            tree = f.tree(api)
            assert count(WebhookDelivery) == 0 and count(Event) > 0  # recorded for Redis alone
            assert api.delete(f"/projects/{tree['project']['id']}").status_code == 204
            drain(worker(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix))
            assert Event.select().where(Event.redis_pending == True).count() == 0  # noqa: E712
        published = []
        while (message := pubsub.get_message(timeout=1)) is not None:
            if message["type"] == "pmessage":
                published.append((message["channel"].decode(), json.loads(message["data"])))
        stream = r.xrange(prefix + "dataset:events")
    finally:
        pubsub.close()
        r.delete(prefix + "dataset:events")
    channels = [channel for channel, _ in published]
    assert channels[:3] == [
        prefix + "dataset:projects:created",
        prefix + "dataset:datasets:created",
        prefix + "dataset:entries:created",
    ]
    annotation = next(p for c, p in published if c == prefix + "dataset:annotations:created")
    assert annotation["resource_id"] == tree["annotation"]["id"]
    assert annotation["metadata"]["entry_id"] == tree["entries"][0]["id"]
    assert [fields[b"event"].decode() for _id, fields in stream] == [c[len(prefix) :] for c in channels]
    # a cascade delete: one event, the project's (none for its dataset, entries, annotation)
    assert channels[-1] == prefix + "dataset:projects:deleted"
    assert channels.count(prefix + "dataset:entries:deleted") == 0
    assert json.loads(stream[-1][1][b"payload"])["resource_id"] == tree["project"]["id"]


def test_retention_purges_old_events(events_api, tmp_path):
    with hooked(tmp_path) as h:
        api, project = h.api, h.project
        f.dataset(api, project)
        drain(worker(tmp_path))
        assert count(Event) == 2  # the project's (before the webhook) and the dataset's
        time.sleep(1.1)
        worker(tmp_path, event_retention_seconds=1).step()
        assert count(Event) == 0 and count(WebhookDelivery) == 0


def test_docs_list_every_event():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "events.md").read_text()
    for name in outbox.names():
        base, _, kind = name.rpartition(":")
        assert f"`{name}`" in text or (
            f"`{base}:created` / `updated` / `deleted`" in text and kind in ("created", "updated", "deleted")
        ), name


def test_the_spec_names_every_event_as_the_code_does():
    """The enum of a webhook's ``events`` in openapi.yaml is the list the code emits, in order."""
    from dataset_api import spec

    assert spec.document()["components"]["schemas"]["WebhookEventName"]["enum"] == outbox.names()
