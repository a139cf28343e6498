"""``dataset-api import`` and ``export``: a dataset's entries in and out in bulk (issue #11), through
the service's public HTTP API only, with a progress display, chunked imports and bounded retries."""

import contextlib
import itertools
import logging
import os
import sys
import time
import urllib.parse
import zlib
from pathlib import Path

import httpx

from dataset_api import bulkfile
from dataset_api.display import Upload, import_display, progress

REFUSED, USAGE, INTERRUPTED = 1, 2, 130  # exit statuses; a failed request exits with 1 too
MEDIA = "application/vnd.api+json"
IMPORT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "coco": "application/json"}
GUESSED = {".jsonl": "ndjson", ".ndjson": "ndjson", ".csv": "csv"}
ATTEMPTS, LONGEST_WAIT = 5, 60  # tries of one request; seconds between two at most
SHOWN = 30  # refused lines printed; the others are counted
# the server answers an import once every line is written: allow it minutes, not seconds
TIMEOUT = httpx.Timeout(30, read=600)

logging.getLogger("httpx").setLevel(logging.WARNING)  # a log line per request would break the display


class Failure(Exception):
    """Ends a command with a message on stderr and an exit status."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def command(run):
    """A command's exit status: what ``run`` returns, or a Failure's, whose message goes to stderr."""
    def wrapped(args):
        try:
            return run(args)
        except Failure as exc:
            print(f"dataset-api {args.command}: {exc}", file=sys.stderr)
            return exc.status
        except OSError as exc:  # a file that cannot be read or written
            print(f"dataset-api {args.command}: {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"dataset-api {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED
    return wrapped


def connect(args):
    """An HTTP client of ``--url`` sending the token; a missing token is a usage error."""
    if not args.token:
        raise Failure("no token: give --token or set DATASET_API_TOKEN", USAGE)
    return httpx.Client(base_url=args.url, timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {args.token}", "Accept": MEDIA})


def dataset_path(dataset, action):
    """The path of a dataset's ``action`` route, the id quoted."""
    return f"/datasets/{urllib.parse.quote(dataset, safe='')}/{action}"


def send(request, retry_lost):
    """Call ``request()`` until it answers other than 503, ATTEMPTS times at most, waiting as
    ``Retry-After`` says (else backing off). A connection that fails is retried; one lost once the
    request went out only when ``retry_lost``: when sending it twice cannot write anything twice.
    Returns the last response."""
    for attempt in itertools.count(1):
        try:
            resp = request()
        except httpx.TransportError as exc:
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if not (retry_lost or unsent) or attempt == ATTEMPTS:
                raise Failure(f"{exc.request.method} {exc.request.url}: {type(exc).__name__}: {exc} "
                              f"(attempts: {attempt})") from None
            wait = backoff(attempt)
        else:
            if resp.status_code != 503 or attempt == ATTEMPTS:
                return resp
            wait = retry_after(resp) or backoff(attempt)
        time.sleep(wait)


def backoff(attempt):
    return min(LONGEST_WAIT, 0.5 * 2**attempt)


def retry_after(resp):
    """The seconds ``Retry-After`` asks for, capped; None when it gives none (or a date)."""
    value = resp.headers.get("Retry-After", "")
    return min(LONGEST_WAIT, int(value)) if value.isdigit() else None


def failure(resp, action):
    """A Failure naming the status and the server's ``detail`` (a JSON:API error document)."""
    try:
        detail = "; ".join(str(e.get("detail") or e.get("title")) for e in resp.json()["errors"])
    except (ValueError, LookupError, TypeError, AttributeError):  # not a JSON:API error document
        detail = resp.text[:300]
    hint = " (send it in parts: --chunk-size N)" if resp.status_code == 413 else ""
    return Failure(f"{action} failed: {resp.status_code} {resp.reason_phrase}: {detail}{hint}")


# --- import -----------------------------------------------------------------------------------------

class Tally:
    """What the server did with the lines sent: its counts, and the lines it refused."""

    def __init__(self):
        self.counts = {"created": 0, "updated": 0, "skipped": 0}
        self.refused, self.refused_count, self.unwritten = [], 0, 0

    def add(self, resp, file_line, rows):
        """Count a 200 or 422 answer to a request of ``rows`` rows; raise Failure for any other."""
        if resp.status_code not in (200, 422):
            raise failure(resp, "import")
        document = resp.json()
        meta = document.get("meta", {})
        if resp.status_code == 200:  # with partial=true, the refused lines are in meta.errors
            errors = meta.get("errors", [])
            self.counts = {name: n + meta.get(name, 0) for name, n in self.counts.items()}
        else:  # 422: the request wrote nothing
            errors = document["errors"]
            self.unwritten += rows
        self.refused_count += meta.get("error_count", len(errors))  # errors lists 1,000 at most
        self.refused += [(file_line(e.get("meta", {}).get("line", 0)),
                          e.get("source", {}).get("pointer", ""), e.get("detail", "")) for e in errors]

    def report(self, path):
        """Print the refused lines (SHOWN at most) to stderr, then the summary; return the exit status."""
        for line, pointer, detail in self.refused[:SHOWN]:
            print(f"{path}:{line}: {pointer + ': ' if pointer else ''}{detail}", file=sys.stderr)
        if self.refused_count > SHOWN:
            print(f"… and {self.refused_count - SHOWN} more refused lines", file=sys.stderr)
        summary = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        summary += f", refused {self.refused_count}"
        if self.unwritten:
            summary += (f"; {self.unwritten} rows not written (a request with a refused line writes "
                        "none of its lines; --partial writes the others)")
        print(summary)
        return REFUSED if self.refused_count else 0


def then(blocks, action):
    """``blocks``, then ``action()`` once the last was taken: the upload is over, the wait is not."""
    yield from blocks
    action()


def gzipped(blocks):
    """``blocks`` gzip-compressed as they come (level 1: NDJSON and CSV still shrink 5-30 times, at
    a fraction of the default level's time)."""
    pack = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for block in blocks:
        if packed := pack.compress(block):
            yield packed
    yield pack.flush()


def too_compressible(resp):
    """True for the 413 of a gzip body that expands beyond the server's bound: send it plain."""
    if resp.status_code != 413:
        return False
    try:
        errors = resp.json().get("errors", [])
    except ValueError:  # not the server's own answer (a proxy's)
        return False
    return any(e.get("code") == "compression_ratio" for e in errors)


def import_whole(http, args, fmt, bar):
    """Import the file in one request, its body streamed from the file gzip-compressed as the
    upload goes (uncompressed, with its length, if the server finds it too compressible): a block
    of the file and its compressed bytes in memory at a time, whatever the file's size."""
    total = bulkfile.count_rows(args.file, fmt)
    params = {"on_conflict": args.on_conflict, "partial": str(args.partial).lower()}
    upload = Upload(bar, total)

    def request(compress=True):
        upload.start()
        body = bulkfile.blocks(args.file, bulkfile.counter(fmt), upload.advance)
        # a plain body's length lets the server refuse one too big (413) before it is uploaded
        headers = {"Content-Type": IMPORT_TYPES[fmt], **({"Content-Encoding": "gzip"} if compress
                   else {"Content-Length": str(os.path.getsize(args.file))})}
        resp = http.post(dataset_path(args.dataset, "import"), params=params, headers=headers,
                         content=then(gzipped(body) if compress else body, upload.sent))
        upload.answered(resp)
        return resp

    # sent twice, on_conflict=error would refuse the lines the lost request had written
    resp = send(request, retry_lost=args.on_conflict != "error")
    if too_compressible(resp):  # refused before anything was written
        resp = send(lambda: request(compress=False), retry_lost=args.on_conflict != "error")
    tally = Tally()
    tally.add(resp, int, total)  # the body is the file: its line numbers are the file's
    return tally


def import_chunks(http, args, fmt, bar):
    """Import the file ``--chunk-size`` records per request, each request all-or-nothing, read from
    the file a chunk at a time.

    Lines already there are skipped (``on_conflict=error`` is sent as ``skip``; ``update`` is
    kept), so a chunk retried after a lost connection, or an import run again after it was
    interrupted, writes nothing twice: what the server already had counts as skipped."""
    params = {"on_conflict": "update" if args.on_conflict == "update" else "skip",
              "partial": str(args.partial).lower()}
    plain = {"Content-Type": IMPORT_TYPES[fmt]}
    total = bulkfile.count_records(args.file, fmt)
    count = -(-total // args.chunk_size)
    tally, confirmed, started = Tally(), 0, time.monotonic()
    task = bar.add_task(f"chunk {min(1, count)}/{count:,}", total=total)
    for number, chunk in enumerate(bulkfile.chunks(args.file, fmt, args.chunk_size), 1):
        bar.update(task, description=f"chunk {number:,}/{count:,}")
        body = chunk.body()
        packed = b"".join(gzipped([body]))

        def request(body=body, packed=packed, compress=True):
            data = packed if compress else body
            headers = {**plain, "Content-Length": str(len(data)),
                       **({"Content-Encoding": "gzip"} if compress else {})}
            # handed over as an iterator, which lets go of the bytes once sent: httpx keeps a
            # response and its request in a reference cycle, which only the garbage collector
            # frees, so a bytes body would stay until it runs, a chunk's worth per request
            return http.post(dataset_path(args.dataset, "import"), params=params,
                             headers=headers, content=iter((data,)))

        began = time.monotonic()
        resp = send(request, retry_lost=True)
        if too_compressible(resp):
            resp = send(lambda request=request: request(compress=False), retry_lost=True)
        tally.add(resp, chunk.file_line, len(chunk.records))
        # the rate is what the server confirmed: this chunk's lines over its requests' time
        now, confirmed = time.monotonic(), confirmed + len(chunk.records)
        bar.update(task, completed=confirmed, rate=len(chunk.records) / max(now - began, 1e-6),
                   left=(total - confirmed) * (now - started) / confirmed)
    return tally


@command
def run_import(args):
    """``dataset-api import``: 0, or REFUSED when the server refused lines."""
    fmt = args.format or GUESSED.get(Path(args.file).suffix.lower())
    if fmt is None:
        raise Failure(f"cannot tell the format of {args.file} from its extension: give --format", USAGE)
    with connect(args) as http, import_display(args.progress) as bar:
        run = import_chunks if args.chunk_size else import_whole
        tally = run(http, args, fmt, bar)
    return tally.report(args.file)


# --- export -----------------------------------------------------------------------------------------

def count_entries(http, args):
    """How many entries the export will write: ``meta.count`` of the entries index, same filters."""
    params = {"filter[dataset_id]": args.dataset, **dict(args.filter), "page[size]": 1, "count": "true"}
    resp = send(lambda: http.get("/entries", params=params), retry_lost=True)
    if resp.status_code != 200:
        raise failure(resp, "counting the entries")
    return resp.json()["meta"]["count"]


class Export:
    """A request of the export that streams the answer into the part file, rewritten from its
    start at each attempt; counts rows (JSON lines, CSV) or bytes (COCO) as the progress."""

    def __init__(self, http, args, part, bar, total):
        self.http, self.args, self.part, self.bar, self.total = http, args, part, bar, total
        self.task = bar.add_task("export", total=total)
        self.rows = None

    def __call__(self):
        self.bar.reset(self.task, total=self.total)
        self.rows = None if self.args.format == "coco" else bulkfile.counter(self.args.format)
        params = {"format": self.args.format, **dict(self.args.filter)}
        accept = f"{EXPORT_TYPES[self.args.format]}, {MEDIA}"  # JSON:API for the errors
        with self.http.stream("GET", dataset_path(self.args.dataset, "export"), params=params,
                              headers={"Accept": accept}) as resp:
            if resp.status_code != 200:
                resp.read()
                return resp
            with open(self.part, "wb") as f:
                for block in resp.iter_bytes():  # as they come: the progress moves with them
                    f.write(block)
                    self.bar.advance(self.task, len(block) if self.rows is None else self.rows.feed(block))
        return resp

    def summary(self, target):
        size = os.path.getsize(target)
        if self.rows is None:
            return f"exported {size} bytes to {target}"
        return f"exported {self.rows.rows + self.rows.finish()} rows ({size} bytes) to {target}"


@contextlib.contextmanager
def replacing(target):
    """Yield the path FILE.part to write; rename it FILE when the block ends, remove it when the
    block raises (or is interrupted), so that FILE is never left truncated."""
    part = target.with_name(target.name + ".part")
    try:
        yield part
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)


@command
def run_export(args):
    """``dataset-api export``: 0 once FILE holds the whole export."""
    target = Path(args.output)
    with connect(args) as http, replacing(target) as part:
        total = None if args.format == "coco" else count_entries(http, args)
        with progress(args.progress, "bytes" if args.format == "coco" else "rows") as bar:
            export = Export(http, args, part, bar, total)
            resp = send(export, retry_lost=True)  # a GET writes nothing: always safe to repeat
            if resp.status_code != 200:
                raise failure(resp, "export")
    print(export.summary(target))
    return 0
