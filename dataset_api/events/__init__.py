"""Events: every change written to an outbox in its own transaction (``outbox``), delivered by the
worker (``worker``) to webhooks (``delivery``, signed by ``signing``) and to Redis (``publish``).
docs/events.md lists every event."""
