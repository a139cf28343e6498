"""The import: read the uploaded body (already on disk), check every line and spool the good
ones, then write them in one transaction with set-based statements.

Three passes, none holding the file in memory:
1. ``spool``: parse and check each line (``lines``) into a private SQLite file; bad lines become
   errors. A ``resource`` repeated within the file is found there by an index, not in memory.
2. ``write`` (one transaction of the service's database, the only time SQLite's write lock is
   held): per chunk of spooled lines, one SELECT finds the resources the dataset holds already,
   then multi-row INSERTs create the new entries and their pre-annotations; ``on_conflict`` says
   what an existing resource does. One counters UPDATE at the end.
3. Unless ``partial``, any bad line rolls everything back (the dataset's existing resources are
   still looked up, so the answer lists every bad line at once).
"""

import csv
import itertools
import json
import os
import sqlite3
import tempfile
from datetime import timedelta

from dataset_api import bulkfile, errors, store, writes
from dataset_api import rows as sql_rows
from dataset_api.db import db, is_postgresql
from dataset_api.models import Annotation, Entry, Ids, JsonText, utcnow
from dataset_api.resources.annotations import ANNOTATIONS
from dataset_api.resources.datasets import DATASETS
from dataset_api.resources.entries import ENTRIES
from dataset_api.transfer import lines
from dataset_api.workflow import counters

# a field may be as long as a record (the csv module's default allows 128 KiB); process-wide,
# and no other reader of CSV in the service wants less
csv.field_size_limit(max(csv.field_size_limit(), lines.MAX_LINE_BYTES))
CHUNK = 2000  # spooled lines per SELECT and per batch of INSERTs
ANALYZE_AFTER = 10000  # rows an import writes before PostgreSQL's statistics are refreshed
MAX_LISTED = 1000  # bad lines listed in an answer; meta.error_count counts them all
DUPLICATE = "An entry with this resource already exists in the dataset."
REVISED = ("dimensions", "annotation", "metadata")  # an annotation's values, in its columns' order


class Outcome:
    """What an import did, and the bad lines it met (the first MAX_LISTED, by line)."""

    def __init__(self):
        self.created = self.updated = self.skipped = 0
        self.error_count = 0
        self._errors = []

    def bad(self, line, exc):
        self.error_count += 1
        self._errors.append((line, exc))
        if len(self._errors) > 4 * MAX_LISTED:  # keep the earliest lines, in bounded memory
            self._trim()

    def _trim(self):
        self._errors = sorted(self._errors, key=lambda e: e[0])[:MAX_LISTED]

    @property
    def errors(self):
        self._trim()
        return [dict(errors.error_object(422, exc.detail, pointer=exc.pointer, code=exc.code),
                     meta={"line": line}) for line, exc in self._errors]

    def counts(self):
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped}


# --- pass 1: parse, check, spool -------------------------------------------------------------------

class Spool:
    """Checked lines in a private SQLite database: in memory for a small upload, else in a file
    beside the upload (no journal, no fsync: it lives for one request)."""

    def __init__(self, in_memory=False, directory=None):
        self.path = None
        if not in_memory:
            fd, self.path = tempfile.mkstemp(prefix="import-", suffix=".db", dir=directory)
            os.close(fd)
        self.db = sqlite3.connect(self.path or ":memory:", isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                              "CREATE TABLE line (n INTEGER PRIMARY KEY, resource TEXT NOT NULL, "
                              "priority INTEGER NOT NULL, job_id TEXT, annotations TEXT); BEGIN")
        self._rows = []

    def add(self, n, line):
        annotations = None if line.annotations is None else lines.dump(line.annotations)
        self._rows.append((n, line.resource, line.priority, line.job_id, annotations))
        if len(self._rows) >= CHUNK:
            self.flush()

    def flush(self):
        self.db.executemany("INSERT INTO line VALUES (?, ?, ?, ?, ?)", self._rows)
        self._rows = []

    def repeated(self):
        """(line, first line) of each line whose resource an earlier line of the file has; those
        lines leave the spool."""
        self.flush()
        self.db.execute("CREATE INDEX line_resource ON line (resource, n)")
        found = self.db.execute(
            "SELECT n, (SELECT min(n) FROM line AS first WHERE first.resource = line.resource) "
            "FROM line WHERE resource IN (SELECT resource FROM line GROUP BY resource "
            "HAVING count(*) > 1) ORDER BY n").fetchall()
        repeats = [(n, first) for n, first in found if n != first]
        self.db.executemany("DELETE FROM line WHERE n = ?", [(n,) for n, _ in repeats])
        self.db.execute("COMMIT")
        return repeats

    def chunks(self):
        """The spooled lines in file order, CHUNK at a time."""
        last = 0
        while True:
            rows = self.db.execute("SELECT n, resource, priority, job_id, annotations FROM line "
                                   "WHERE n > ? ORDER BY n LIMIT ?", (last, CHUNK)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def close(self):
        self.db.close()
        if self.path:
            os.unlink(self.path)


def ndjson_lines(raw):
    """(line number, text or BadLine) of each non-blank line of the binary file ``raw``; a line
    past MAX_LINE_BYTES is bad and never read into memory whole."""
    n = 0
    while True:
        data = raw.readline(lines.MAX_LINE_BYTES + 1)
        if not data:
            return
        n += 1
        if len(data) > lines.MAX_LINE_BYTES and not data.endswith(b"\n"):
            while data and not data.endswith(b"\n"):  # drop the rest of the line
                data = raw.readline(lines.MAX_LINE_BYTES)
            yield n, lines.BadLine(f"The line is longer than {lines.MAX_LINE_BYTES} bytes.")
            continue
        if not data.strip():
            continue
        try:
            yield n, data.decode("utf-8")
        except UnicodeDecodeError:
            yield n, lines.BadLine("The line is not valid UTF-8.", code="parse_error")


def check_ndjson(raw):
    """(line number, Line or BadLine) of each line of an NDJSON upload."""
    for n, text in ndjson_lines(raw):
        if isinstance(text, lines.BadLine):
            yield n, text
            continue
        try:
            yield n, lines.from_json(text)
        except lines.BadLine as exc:
            yield n, exc


def check_csv(raw):
    """(line number, Line or BadLine) of each record of a CSV upload (RFC 4180, a header row), each
    numbered by the line it starts on. A record that is not CSV, not UTF-8, longer than
    MAX_LINE_BYTES or of another width than the header is bad, and reading goes on at the next
    (``bulkfile.csv_records``). Behind a bad header every record is bad, as none can be read, each
    saying why; the header is no record, so the counts still add up to the records (a file of a
    bad header alone is that header's one bad line)."""
    records = bulkfile.csv_records(raw, lines.MAX_LINE_BYTES)
    header = next(records, None)
    if header is None:
        return
    try:
        columns = lines.csv_header(_fields(header))
    except lines.BadLine as exc:
        unread = lines.BadLine(f"The record cannot be read: the header (line {header.line}) is bad: "
                               f"{exc.detail}", exc.pointer, exc.code)
        first = next(records, None)
        if first is None:
            yield header.line, exc
        else:
            yield from ((record.line, unread) for record in itertools.chain([first], records))
        return
    for record in records:
        try:
            fields = _fields(record)
            if len(fields) != len(columns):
                raise lines.BadLine(f"The record has {len(fields)} field(s), the header {len(columns)}.")
            yield record.line, lines.from_csv(dict(zip(columns, fields, strict=True)))
        except lines.BadLine as exc:
            yield record.line, exc


def _fields(record):
    """The fields of a ``bulkfile.Record``, split by the csv module; BadLine when it has none."""
    if record.problem:
        raise lines.BadLine(f"The record is not valid CSV: {record.problem}", code="parse_error")
    if record.data is None:
        raise lines.BadLine(f"The record is longer than {lines.MAX_LINE_BYTES} bytes.")
    try:
        text = record.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise lines.BadLine(f"The record is not valid UTF-8 (its byte {exc.start + 1}).",
                            code="parse_error") from None
    try:  # the record is whole: its line breaks, if any, are quoted
        return next(csv.reader((text,), strict=True), [])
    except csv.Error as exc:
        raise lines.BadLine(f"The record is not valid CSV: {exc}.", code="parse_error") from None


def spool(raw, kind, outcome, in_memory=False):
    """Check every line of the upload ``raw`` (``kind``: ndjson or csv) into a new Spool (held
    in memory when the upload is small: ``in_memory``)."""
    box = Spool(in_memory)
    try:
        for n, line in (check_csv(raw) if kind == "csv" else check_ndjson(raw)):
            if isinstance(line, lines.BadLine):
                outcome.bad(n, line)
            else:
                box.add(n, line)
        for n, first in box.repeated():
            outcome.bad(n, lines.BadLine(f"resource repeats line {first}'s.", "/resource", "duplicate"))
    except BaseException:
        box.close()
        raise
    return box


# --- pass 2: write --------------------------------------------------------------------------------

def authorize(dataset_id, user):
    """The dataset, if ``user`` may create entries in it (404 when hidden, 403 when not allowed)."""
    dataset = store.get_or_404(DATASETS, dataset_id)
    store.permit(ENTRIES, "create", user, {"project_id": dataset.project_id, "dataset_id": dataset.id})
    return dataset


class Writer:
    """Set-based writes of one import's entries and annotations, stored as ``POST /entries`` and
    ``POST /annotations`` would store them one at a time."""

    def __init__(self, dataset, user, on_conflict, outcome):
        self.dataset, self.on_conflict, self.outcome = dataset, on_conflict, outcome
        self.account_id = user.account_id
        self.revised = []  # the created annotations' first revisions, per chunk
        self.now = utcnow()
        self.tick = 0
        self.ids = Ids()
        self.written = 0  # rows inserted
        parents = {"dataset": dataset.id, "project": dataset.project_id, "version": 1}
        self.entries = sql_rows.Rows(Entry, {**parents, "wf_step": "annotate", "status": "pending"},
                            ("id", "resource", "priority", "job_id", "created_at", "updated_at"))
        self.annotations = sql_rows.Rows(Annotation, {**parents, "created_by_email": user.email},
                                ("id", "entry", "dimensions", "annotation", "metadata", "created_at",
                                 "updated_at"))

    def stamp(self):
        """Creation times one microsecond apart in file order, so the queue (oldest first among
        equal priorities) takes the entries in the order the file lists them, and an export lists
        them (and each entry's annotations) in that order."""
        self.tick += 1
        return self.now + timedelta(microseconds=self.tick)

    def chunk(self, rows, dry):
        """Write one chunk of spooled rows (``dry``: only find the bad ones)."""
        existing = self._existing([r[1] for r in rows])
        changes, replaced = [], []
        for n, resource, priority, job_id, notes in rows:
            found = existing.get(resource)
            if found is None:
                entry_id, at = self.ids(), self.stamp()
                self.entries.add(entry_id, resource, priority, job_id, at, at)
                self.outcome.created += 1
            elif self.on_conflict == "error":
                self.outcome.bad(n, lines.BadLine(DUPLICATE, "/resource", "duplicate"))
                continue
            elif self.on_conflict == "skip":
                self.outcome.skipped += 1
                continue
            else:
                entry_id, status, assignee = found
                if notes is not None and (status != "pending" or assignee is not None):
                    self.outcome.bad(n, lines.BadLine(
                        "The entry is assigned or past pending: its annotations are not replaced.",
                        "/annotations", "entry_in_use"))
                    continue
                changes.append((priority, job_id, self.now, entry_id))
                self.outcome.updated += 1
                if notes is not None:
                    replaced.append(entry_id)
            if notes is not None:
                for note in json.loads(notes):  # stamped in file order too: they keep their order
                    at, note_id = self.stamp(), self.ids()
                    texts = {name: lines.dump(note[name]) for name in REVISED}
                    self.annotations.add(note_id, entry_id, *texts.values(), at, at)
                    # its first revision stores the same texts (not encoded again)
                    self.revised.append({"id": note_id, "entry_id": entry_id, "at": at,
                                         **{name: JsonText(text) for name, text in texts.items()}})
        if dry:
            self.entries.rows, self.annotations.rows, self.revised = [], [], []
            return
        self.written += len(self.entries.rows) + len(self.annotations.rows)
        self.entries.insert()
        if changes:
            db.cursor().executemany(_update_sql(), changes)
        # no event per row: the import's one summary (``write``); a revision per annotation
        if replaced:
            writes.recorded(ANNOTATIONS, "deleted", [(a, None) for a in _delete_annotations(replaced)],
                            event=False, account_id=self.account_id)
        self.annotations.insert()
        writes.recorded(ANNOTATIONS, "created", [(a, None) for a in self.revised], event=False,
                        first=True, account_id=self.account_id)
        self.revised = []

    def _existing(self, resources):
        """{resource: (id, status, assignee)} of the chunk's resources the dataset holds (one
        SELECT on the dataset's unique (dataset, resource) index); under ``update`` locked on
        PostgreSQL, so that the state checked stays true to the commit."""
        q = db.param
        sql = (f'SELECT "resource", "id", "status", "assigned_to_id" FROM "entry" WHERE "dataset_id" = {q} '
               f'AND "resource" IN ({", ".join([q] * len(resources))})')
        if self.on_conflict == "update" and is_postgresql():
            sql += " FOR UPDATE"
        cursor = db.execute_sql(sql, [self.dataset.id, *resources])
        return {resource: rest for resource, *rest in cursor.fetchall()}


def _delete_annotations(entry_ids):
    """Delete the annotations of ``entry_ids``; return them as they were (``revisions.keep``), their
    JSON as the stored text (not decoded: the revisions store it again as it is)."""
    marks, text = ", ".join([db.param] * len(entry_ids)), "::text" if is_postgresql() else ""
    returned = ", ".join(f'"{name}"{text}' for name in REVISED)
    cursor = db.execute_sql(f'DELETE FROM "annotation" WHERE "entry_id" IN ({marks}) '
                            f'RETURNING "id", "entry_id", {returned}', entry_ids)
    return [{"id": note, "entry_id": entry, **dict(zip(REVISED, map(JsonText, values), strict=True))}
            for note, entry, *values in cursor]


def _update_sql():
    q = db.param
    return (f'UPDATE "entry" SET "priority" = {q}, "job_id" = {q}, {writes.STAMP.format(param=q)} '
            f'WHERE "id" = {q}')


def write(dataset_id, user, box, on_conflict, partial, outcome):
    """Pass 2 and 3: the import's one transaction. Returns True when it was written."""
    dry = outcome.error_count > 0 and not partial
    with db.atomic() as transaction:
        dataset = authorize(dataset_id, user)
        writer = Writer(dataset, user, on_conflict, outcome)
        for rows in box.chunks():
            writer.chunk(rows, dry)
        if outcome.error_count and not partial:
            transaction.rollback()
            return False
        if outcome.created:
            counters.shift(dataset.id, total=outcome.created)
        # one summary event for the whole import (docs/events.md), not one per row
        writes.summarized(ENTRIES, "imported", dataset.id, {
            **outcome.counts(), "refused": outcome.error_count, "on_conflict": on_conflict,
            "partial": partial}, project_id=str(dataset.project_id), dataset_id=str(dataset.id),
            account_id=user.account_id)
    if is_postgresql() and writer.written >= ANALYZE_AFTER:
        # as after any bulk load: the planner's statistics of the tables, so that the next queries
        # (an export's ordered reads, the index's pages) are planned for what is there now
        db.execute_sql('ANALYZE "entry", "annotation"')
    return True
