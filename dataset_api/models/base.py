"""Base model: UUIDv7 ids, UTC timestamps and the per-row version behind ETags."""

import os
import time
from datetime import UTC, datetime

from peewee import CharField, DateTimeField, IntegerField, Model

from dataset_api.db import db


def uuid7():
    """Return a new UUIDv7 string (RFC 9562): 48-bit ms timestamp, then random bits."""
    value = int(time.time() * 1000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 9562's 0b10 variant bits


def uuid7_many(count):
    """``count`` new UUIDv7 strings, as ``uuid7`` makes them, from one clock reading and one read
    of random bytes (for the rows a bulk write makes: several times faster per id)."""
    stamp = f"{int(time.time() * 1000):012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    noise = os.urandom(10 * count).hex()
    return [f"{head}{r[1:4]}-{_VARIANT[r[4]]}{r[5:8]}-{r[8:20]}"
            for r in (noise[n:n + 20] for n in range(0, 20 * count, 20))]


class Ids:
    """New UUIDv7 strings one at a time, drawn from batches of ``uuid7_many`` (an import's rows)."""

    def __init__(self, batch=1000):
        self.batch, self.pool = batch, []

    def __call__(self):
        if not self.pool:
            self.pool = uuid7_many(self.batch)[::-1]
        return self.pool.pop()


def utcnow():
    """Return the current UTC time as a naive datetime (stored naive, rendered with Z)."""
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow, index=True)
    version = IntegerField(default=1)

    class Meta:
        database = db
        legacy_table_names = False


class UUIDModel(BaseModel):
    id = CharField(primary_key=True, max_length=36, default=uuid7)
