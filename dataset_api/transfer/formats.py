"""The export's three formats, written in pieces from chunks of export lines (an entry with its
annotations, as ``exporter`` reads them: the annotations' ``dimensions``, ``annotation`` and
``metadata`` as compact JSON text, copied into the output as they are). Pure: no database, no
HTTP; memory stays that of one chunk.

- ``jsonl``: one line per entry, a valid import line (``lines.ENTRY_IGNORED`` lists what the
  import ignores);
- ``csv``: RFC 4180 with a header row: the import's ``lines.CSV_COLUMNS``, then the export-only ones;
  text that a spreadsheet would evaluate is prefixed with ``'`` (``lines.guard``);
- ``coco``: a COCO object-detection file (https://cocodataset.org/#format-data), written as
  categories, images (while entries are read), annotations (spooled meanwhile), then ``info``.
"""

import csv
import io
import json
import math
import tempfile
from json.encoder import encode_basestring  # str -> JSON string, as json.dumps(ensure_ascii=False)

from dataset_api.transfer import lines

PIECE_BYTES = 64 * 1024  # what one body message carries, about
# (format, media type, file extension), in the order an Accept header that allows several picks
FORMATS = (("jsonl", "application/x-ndjson", "jsonl"), ("csv", "text/csv", "csv"),
           ("coco", "application/json", "json"))
EXPORT_ONLY = ("id", "wf_step", "status", "assigned_to_id", "submitted_by_id", "reviewed_by_id",
               "error_message", "created_at", "updated_at")
CSV_HEADER = (*lines.CSV_COLUMNS, *EXPORT_ONLY)  # EXPORT_ONLY: lines.ENTRY_IGNORED, in this order


def negotiate(accept, image):
    """The format an ``Accept`` header asks for (q-values honoured; the first allowed of jsonl, csv
    and coco within a range), jsonl without one; COCO only for an ``image`` dataset. None when the
    header allows none of them."""
    ranges = []
    for n, part in enumerate((accept or "*/*").split(",")):
        kind, *params = [p.strip() for p in part.split(";")]
        q = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            weight = float(q)
        except ValueError:
            weight = 0.0
        if kind and weight > 0:
            ranges.append((-weight, n, kind.lower()))
    for _, _, kind in sorted(ranges):
        main, _, sub = kind.partition("/")
        for name, media, _ in FORMATS:
            if name == "coco" and not image:
                continue
            have_main, have_sub = media.split("/")
            if main in ("*", have_main) and sub in ("*", have_sub):
                return name
    return None


class Pieces:
    """Text gathered into byte pieces of about PIECE_BYTES."""

    def __init__(self):
        self.parts, self.size = [], 0

    def add(self, text):
        """Add ``text``; return a full piece (bytes) or None."""
        data = text.encode("utf-8")
        self.parts.append(data)
        self.size += len(data)
        return self.flush() if self.size >= PIECE_BYTES else None

    def flush(self):
        piece, self.parts, self.size = b"".join(self.parts), [], 0
        return piece or None


class Writer:
    """A format: ``head()``, then the texts of ``chunk(records)`` (one per export line) for each
    chunk, then the texts of ``tail()``; ``close()`` whatever happened."""

    def head(self):
        return ""

    def chunk(self, records):
        raise NotImplementedError

    def tail(self):
        yield ""

    def close(self):
        pass


def _text(value):
    """The JSON of a nullable text column, as ``lines.dump`` writes it."""
    return "null" if value is None else encode_basestring(value)


def _integer(value):
    """The JSON of a nullable integer column."""
    return "null" if value is None else str(int(value))


def annotations_text(notes):
    """The JSON array of an export line's annotations (members in ``lines.dump``'s order and
    form), their stored JSON copied as it is. Timestamps are rendered RFC 3339 text: no escapes."""
    return "[" + ",".join([
        f'{{"id":{encode_basestring(n["id"])},"dimensions":{n["dimensions"]},'
        f'"annotation":{n["annotation"]},"metadata":{n["metadata"]},'
        f'"created_by_email":{_text(n["created_by_email"])},"created_at":"{n["created_at"]}",'
        f'"updated_at":"{n["updated_at"]}"}}' for n in notes]) + "]"


def line_text(r):
    """An export line's JSON text: what ``lines.dump`` of the line gives, but for stored JSON,
    copied as it is."""
    return (f'{{"id":{encode_basestring(r["id"])},"resource":{encode_basestring(r["resource"])},'
            f'"priority":{_integer(r["priority"])},"job_id":{_text(r["job_id"])},'
            f'"wf_step":{encode_basestring(r["wf_step"])},"status":{encode_basestring(r["status"])},'
            f'"assigned_to_id":{_integer(r["assigned_to_id"])},'
            f'"submitted_by_id":{_integer(r["submitted_by_id"])},'
            f'"reviewed_by_id":{_integer(r["reviewed_by_id"])},"error_message":{_text(r["error_message"])},'
            f'"created_at":"{r["created_at"]}","updated_at":"{r["updated_at"]}",'
            f'"annotations":{annotations_text(r["annotations"])}}}')


class Jsonl(Writer):
    """One JSON object per line."""

    def chunk(self, records):
        return (line_text(record) + "\n" for record in records)


class Csv(Writer):
    """A header row, then one record per entry; ``annotations`` as JSON array text, null as empty."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)  # RFC 4180: CRLF, quotes doubled

    def _rows(self, rows):
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerows(rows)
        return self.buffer.getvalue()

    def head(self):
        return self._rows([CSV_HEADER])

    def chunk(self, records):
        for record in records:
            yield self._rows([[_cell(column, record[column]) for column in CSV_HEADER]])


def _cell(column, value):
    """A CSV cell: null empty, ``annotations`` JSON, text guarded against spreadsheet formulas."""
    if value is None:
        return ""
    if column == "annotations":
        return annotations_text(value)
    return lines.guard(value) if isinstance(value, str) else value


def categories(labels):
    """COCO categories from a dataset's ``labels`` (ids 1..n in their order) and {key: id}: a label
    is text (its own key and name) or an object whose ``id``, ``name`` and ``label`` are its keys,
    named by the first of ``name``, ``label``, ``id`` it has."""
    found, keys = [], {}
    for label in labels or []:
        if isinstance(label, dict):
            names = [_key(label.get(k)) for k in ("name", "label", "id")]
            names = [n for n in names if n is not None]
            if not names:
                continue
            category = {"id": len(found) + 1, "name": names[0]}
            if isinstance(label.get("supercategory"), str):
                category["supercategory"] = label["supercategory"]
        elif (name := _key(label)) is not None:
            names, category = [name], {"id": len(found) + 1, "name": name}
        else:
            continue
        found.append(category)
        for name in names:
            keys.setdefault(name, category["id"])
    return found, keys


def _key(value):
    """Text to match labels by: a string, or an integer's digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def box(dimensions):
    """[x, y, w, h] of ``dimensions`` whose x, y, w and h are numbers (w, h not negative, their
    product finite: JSON has no infinity), or None."""
    values = [dimensions.get(k) for k in ("x", "y", "w", "h")]
    if all(_number(v) for v in values) and values[2] >= 0 and values[3] >= 0 \
            and math.isfinite(values[2] * values[3]):
        return values
    return None


def image_size(dimensions):
    """(width, height) from the first of the annotations' ``dimensions`` (decoded) that carries
    positive integer ``image_width`` and ``image_height``; (None, None) when none does."""
    for found in dimensions:
        width, height = (found.get(k) for k in ("image_width", "image_height"))
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            return width, height
    return None, None


class Coco(Writer):
    """A COCO file: images while the entries are read, their boxes spooled (to disk past 1 MiB)
    until the images are done, then ``info`` with what was left out."""

    def __init__(self, dataset, created_at):
        self.categories, self.keys = categories(dataset.labels)
        self.info = {"description": dataset.name, "dataset_id": str(dataset.id), "date_created": created_at}
        self.spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+", encoding="utf-8")
        self.images = self.annotations = self.no_box = self.unknown_label = 0

    def head(self):
        return f'{{"categories":{lines.dump(self.categories)},"images":['

    def chunk(self, records):
        for record in records:
            self.images += 1
            # only the members COCO reads are decoded; metadata is not
            notes = [(json.loads(n["dimensions"]), json.loads(n["annotation"]))
                     for n in record["annotations"]]
            width, height = image_size(dimensions for dimensions, _ in notes)
            image = {"id": self.images, "file_name": record["resource"], "width": width, "height": height}
            for dimensions, annotation in notes:
                self._annotation(dimensions, annotation)
            yield ("," if self.images > 1 else "") + lines.dump(image)

    def _annotation(self, dimensions, annotation):
        bbox = box(dimensions)
        if bbox is None:
            self.no_box += 1
            return
        category = self.keys.get(_key(annotation.get("label")))
        if category is None:
            self.unknown_label += 1
            return
        self.annotations += 1
        x, y, w, h = bbox
        self.spool.write(("," if self.annotations > 1 else "") + lines.dump(
            {"id": self.annotations, "image_id": self.images, "category_id": category,
             "bbox": bbox, "area": w * h, "iscrowd": 0}))

    def tail(self):
        """The rest of the file, in pieces; closes the spool."""
        yield '],"annotations":['
        with self.spool:
            self.spool.seek(0)
            while text := self.spool.read(PIECE_BYTES):
                yield text
        info = {**self.info, "images": self.images, "annotations": self.annotations,
                "annotations_without_box": self.no_box,
                "annotations_with_unknown_label": self.unknown_label}
        yield f'],"info":{json.dumps(info, ensure_ascii=False)}}}'

    def close(self):
        self.spool.close()


def encoder(name, dataset, created_at):
    """The writer of format ``name`` for ``dataset``."""
    if name == "coco":
        return Coco(dataset, created_at)
    return Csv() if name == "csv" else Jsonl()
