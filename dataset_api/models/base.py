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
