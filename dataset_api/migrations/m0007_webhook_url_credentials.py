"""0007: credentials removed from the webhooks' stored URLs.

Webhook URLs with a user name or password (``https://user:pass@host/…``) were accepted until
issue #20, stored, and shown to every owner of the project on each read; delivery never sent
them. A URL may no longer carry them (422), and this migration strips the userinfo from those
already stored, keeping everything else of the URL. ``Webhook`` is a frozen view of the columns
it reads and writes.
"""

from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from peewee import CharField, DateTimeField, IntegerField, Model, TextField


class Webhook(Model):
    id = CharField(primary_key=True, max_length=36)
    url = TextField()
    version = IntegerField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "webhook"


def without_credentials(url):
    """``url`` without its userinfo (``user:pass@``); ``url`` itself when it has none."""
    try:
        parts = urlsplit(url)
    except ValueError:  # never stored: the URL was checked when written
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def up(database):
    now = datetime.now(UTC).replace(tzinfo=None)
    with database.bind_ctx([Webhook]):
        for row in Webhook.select(Webhook.id, Webhook.url).where(Webhook.url.contains("@")):
            cleaned = without_credentials(row.url)
            if cleaned != row.url:
                Webhook.update(url=cleaned, version=Webhook.version + 1, updated_at=now) \
                    .where(Webhook.id == row.id).execute()
