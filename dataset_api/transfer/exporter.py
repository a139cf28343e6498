"""The export: a dataset's entries (those the caller could list, with the index's filters) and
their annotations, read in one snapshot and streamed with constant memory.

One thread per export holds one pooled connection and one read transaction (PostgreSQL:
REPEATABLE READ, READ ONLY; SQLite: a deferred transaction, which never takes the write lock and
reads one WAL snapshot). It reads CHUNK entries at a time by keyset on (created_at, id), their
annotations with one query per chunk, encodes them (``formats``) and hands byte pieces to the
response through a bounded channel (``stream``): a slow client holds the thread back, one that
goes away (or reads nothing for ``stream.STALL_SECONDS``) stops it, and its connection goes back
to the pool.

Stored JSON reaches ``formats`` as compact text, not decoded: SQLite holds what ``json()`` wrote
(compact, valid, numbers as written); PostgreSQL's jsonb is read as its text, which puts a space
after each ``,`` and ``:`` between members, and those spaces are dropped (``_compact``).
"""

import json
from contextlib import contextmanager

from peewee import SQL, NodeList, Tuple

from dataset_api import metrics, store
from dataset_api.db import db, is_postgresql
from dataset_api.errors import ApiError, InvalidQuery
from dataset_api.jsonapi import build, query
from dataset_api.jsonapi.values import render_timestamp, to_timestamp
from dataset_api.models import Annotation, Entry, utcnow
from dataset_api.resources.datasets import DATASETS
from dataset_api.resources.entries import ENTRIES
from dataset_api.transfer import formats, lines, stream

CHUNK = 1000  # entries per keyset query; memory holds one chunk and its annotations
ENTRY_COLUMNS = (Entry.id, Entry.resource, Entry.priority, Entry.job_id, Entry.wf_step, Entry.status,
                 Entry.assigned_to_id, Entry.submitted_by_id, Entry.reviewed_by_id, Entry.error_message,
                 Entry.created_at, Entry.updated_at)
ENTRY_NAMES = [field.name for field in ENTRY_COLUMNS]
CREATED_AT = ENTRY_NAMES.index("created_at")
ANNOTATION_COLUMNS = (Annotation.entry, Annotation.id, Annotation.dimensions, Annotation.annotation,
                      Annotation.metadata, Annotation.created_by_email, Annotation.created_at,
                      Annotation.updated_at)
AS_TEXT = frozenset({"created_at", "updated_at", "dimensions", "annotation", "metadata"})  # ``selected``


@contextmanager
def snapshot():
    """One read-only transaction: every chunk sees the database as it was at the first read."""
    if is_postgresql():
        with db.atomic(isolation_level="REPEATABLE READ"):
            db.execute_sql("SET TRANSACTION READ ONLY")
            # each chunk must read the index in order: before the table has statistics (right
            # after a bulk import) the planner sorts the rest of the dataset for every chunk
            db.execute_sql("SET LOCAL enable_sort = off")
            yield
    else:
        with db.atomic(lock_type="DEFERRED"):
            yield


def selected(columns):
    """``columns`` as the export selects them: timestamps and JSON as text on PostgreSQL too
    (SQLite stores text), which the driver hands over without parsing it; the keyset compares the
    timestamp's text as a timestamp literal."""
    if not is_postgresql():
        return columns
    return tuple(c.cast("text").alias(c.name) if c.name in AS_TEXT else c for c in columns)


def records(select, as_of=None):
    """Chunks of export lines (dicts, ``formats``' input) of the entries ``select`` finds, ordered
    by (created_at, id); each entry's annotations ordered the same way, their stored JSON as
    compact text; ``as_of`` (a naive UTC time): the annotations as they were then."""
    after = None
    while True:
        rows = _fetch(page(select, after))
        if not rows:
            return
        after = (rows[-1][CREATED_AT], rows[-1][0])  # as stored, as the next query compares
        ids = [row[0] for row in rows]
        notes = _annotations(ids) if as_of is None else _annotations_as_of(ids, as_of)
        chunk = []
        for row in rows:
            record = dict(zip(ENTRY_NAMES, row, strict=True))
            record["created_at"] = _timestamp(record["created_at"])
            record["updated_at"] = _timestamp(record["updated_at"])
            record["annotations"] = notes.get(record["id"], [])
            chunk.append(record)
        yield chunk
        if len(rows) < CHUNK:
            return


def _timestamp(value):
    """``render_timestamp`` of a stored timestamp; the text both databases give for one with
    microseconds (2026-11-28 13:53:00.123456) is rearranged, not parsed."""
    if type(value) is str and len(value) == 26 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"
    return render_timestamp(value)


def page(select, after):
    """The query of the chunk after ``after`` ((created_at, id) as stored; None: the first), which
    the index ``entry_dataset_created`` answers in order (migration 0004)."""
    select = select.order_by(Entry.created_at, Entry.id).limit(CHUNK)
    if after is None:
        return select
    # a row-value comparison: both databases seek it in the index, where an OR would be filtered
    return select.where(Tuple(Entry.created_at, Entry.id) > Tuple(*after))


def _fetch(select):
    """The rows of ``select`` as the driver gives them: peewee's per-row conversion would cost
    more than the query. Timestamps and JSON come as text (``selected``)."""
    return db.execute(select).fetchall()


def _compact(text):
    """jsonb's text (``{"a": 1, "b": [2, 3]}``) as ``lines.dump`` spaces it. Without a backslash
    every ``"`` opens or closes a string, so the pieces between strings are every other one; with
    one (rare: an escape) the value is decoded and encoded."""
    if "\\" in text:
        return lines.dump(json.loads(text))
    pieces = text.split('"')
    pieces[::2] = [piece.replace(", ", ",").replace(": ", ":") for piece in pieces[::2]]
    return '"'.join(pieces)


def _annotations(entry_ids):
    """{entry id: [annotation, …]} of the entries' annotations (any annotation of an entry the
    caller can read is readable: the annotations' read scope says so), one query."""
    # the list as placeholders in the SQL text, its values passed straight to the driver: peewee
    # builds a node per value of in_() (or of an SQL fragment's params), more than the query costs
    listed = SQL(f"IN ({', '.join([db.param] * len(entry_ids))})")
    sql, _ = (Annotation.select(*selected(ANNOTATION_COLUMNS)).where(NodeList((Annotation.entry, listed)))
              .order_by(Annotation.entry, Annotation.created_at, Annotation.id)).sql()
    return _grouped(db.execute_sql(sql, entry_ids).fetchall())


def _grouped(rows):
    """{entry id: [annotation, …]} of (entry id, id, dimensions, annotation, metadata, email,
    created, updated) rows, their JSON as compact text."""
    found = {}
    text = _compact if is_postgresql() else str
    for entry_id, note_id, dimensions, annotation, metadata, email, created, updated in rows:
        found.setdefault(entry_id, []).append({
            "id": note_id, "dimensions": text(dimensions), "annotation": text(annotation),
            "metadata": text(metadata), "created_by_email": email,
            "created_at": _timestamp(created), "updated_at": _timestamp(updated)})
    return found


# An annotation as of a time: its last revision up to then, unless that one is its deletion; it was
# created at its first revision (annotations stored before revisions were kept: when the migration
# found them). The entry's list ordered as ``_annotations`` orders it, by creation then id.
AS_OF = (
    'SELECT r."entry_id", r."annotation_id", {dimensions}, {annotation}, {metadata}, a."created_by_email", '
    'l."first_at", r."at" FROM (SELECT "annotation_id", MAX("number") AS "last", MIN("at") AS "first_at" '
    'FROM "annotation_revision" WHERE "entry_id" IN ({marks}) AND "at" <= {param} GROUP BY "annotation_id") '
    'AS l JOIN "annotation_revision" AS r ON r."annotation_id" = l."annotation_id" AND r."number" = l."last" '
    'LEFT JOIN "annotation" AS a ON a."id" = r."annotation_id" '
    'WHERE r."operation" <> \'deleted\' ORDER BY r."entry_id", l."first_at", r."annotation_id"')


def _annotations_as_of(entry_ids, as_of):
    """``_annotations`` as they were at ``as_of``, read from their revisions."""
    json_text = '{}::text' if is_postgresql() else '{}'
    columns = {name: json_text.format(f'r."{name}"') for name in ("dimensions", "annotation", "metadata")}
    sql = AS_OF.format(marks=", ".join([db.param] * len(entry_ids)), param=db.param, **columns)
    return _grouped(db.execute_sql(sql, [*entry_ids, as_of]).fetchall())


class Export:
    """What to export: the dataset, the index's filters (parsed, so a bad one is the index's 400),
    the ``format`` asked for (None: from ``accept``)."""

    def __init__(self, dataset_id, pairs, format, accept, as_of=None):
        self.dataset_id, self.format, self.accept = dataset_id, format, accept
        self.as_of = None if as_of is None else _time(as_of)
        self.filters = query.parse(ENTRIES, [(k, v) for k, v in pairs if k.startswith("filter[")]).filters

    def _format(self, dataset):
        image = dataset.modality == "image"
        if self.format == "coco" and not image:
            raise InvalidQuery(f"COCO is for image datasets; this one's modality is {dataset.modality!r}.",
                               parameter="format")
        name = self.format or formats.negotiate(self.accept, image)
        if name is None:
            raise ApiError("Accept allows none of the export's formats (COCO, application/json, is for "
                           "image datasets).", status=406)
        return name

    def run(self, put):
        """Check, then export through ``put``: first (format name, dataset id), then byte pieces."""
        with db.connection_context(), snapshot():
            metrics.sample_pool()
            dataset = store.get_or_404(DATASETS, self.dataset_id)
            name = self._format(dataset)
            select = build.filtered(Entry, store.scope(ENTRIES, Entry.select(*selected(ENTRY_COLUMNS))),
                                    self.filters).where(Entry.dataset == dataset.id)
            writer = formats.encoder(name, dataset, render_timestamp(utcnow()))
            try:
                put((name, str(dataset.id)))
                pieces = formats.Pieces()
                for text in _texts(writer, select, self.as_of):
                    if (piece := pieces.add(text)) is not None:
                        put(piece)
                if (piece := pieces.flush()) is not None:
                    put(piece)
            finally:
                writer.close()


def _time(text):
    """The naive UTC time of the ``as_of`` parameter; 400 naming it when it is none."""
    try:
        return to_timestamp(text)
    except ValueError as exc:
        raise InvalidQuery(f"Invalid value {text!r} for 'as_of': {exc}.", parameter="as_of") from None


def _texts(writer, select, as_of=None):
    yield writer.head()
    for chunk in records(select, as_of):
        yield from writer.chunk(chunk)
    yield from writer.tail()


async def respond(export):
    """Start ``export`` in its thread; return its streaming response once it has passed its checks,
    or raise what stopped it (404, 400, 406, a database error) as a normal error."""
    (name, dataset_id), channel = await stream.start(export.run, f"export-{export.dataset_id}")
    _, media, extension = next(f for f in formats.FORMATS if f[0] == name)
    return stream.ChannelResponse(channel, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{dataset_id}.{extension}"'})
