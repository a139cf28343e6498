"""Redis: each event's payload published on its channel (``<prefix><type>:<kind>``, the reference's
names) and appended to the stream ``<prefix>dataset:events``, for consumers that must not miss one."""

import json

import redis

STREAM = "dataset:events"


class Publisher:
    def __init__(self, url, prefix="", maxlen=100_000):
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.prefix, self.maxlen = prefix, maxlen

    def publish(self, events):
        """Publish ``events`` (Event rows) in order, in one round trip; raises redis errors."""
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            text = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
            pipe.publish(self.prefix + event.name, text)
            pipe.xadd(self.prefix + STREAM, {"event": event.name, "id": event.uid, "payload": text},
                      maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def close(self):
        self.client.close()
