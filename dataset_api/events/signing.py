"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets in its ``whsec_`` form and
the three headers of a delivery, made with the ``standardwebhooks`` package that receivers verify
with."""

import base64
import os
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook as Signer

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # 256 bits; the specification asks for 24 to 64


def new_secret():
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def headers(message_id, body, secrets, now=None):
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers of ``body`` (text),
    signed with each of ``secrets`` (a rotated secret signs beside the new one for a while: the
    receiver accepts either; the specification joins signatures with spaces)."""
    now = now or datetime.now(UTC)
    signatures = [Signer(secret).sign(message_id, now, body) for secret in secrets]
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(signatures)}
