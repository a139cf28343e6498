"""Bulk import and export of a dataset's entries (``POST /datasets/{id}/import``,
``GET /datasets/{id}/export``): the line formats (``lines``), the streamed, spooled, set-based
import (``importer``), the streamed export (``exporter``: what is read, in one snapshot), its
three file formats (``formats``), the thread-to-response channel it streams through (``stream``)
and their HTTP handlers (``handlers``)."""
