"""The files ``dataset-api import`` reads and ``export`` writes (NDJSON, CSV): rows counted without
parsing, CSV records split on bytes as the import splits them (``csv_records``, which the server's
import uses too), chunks that know their lines in the file. Pure: no HTTP, no database; nothing
here holds a whole file."""

import bisect
import itertools
import re
from typing import NamedTuple

BLOCK = 256 * 1024  # bytes read at a time


class RowCounter:
    """Counts the rows ending in a stream of byte blocks, without parsing them: newlines, except
    (CSV) those inside a quoted field, where RFC 4180 lets a quote open or close a field (an
    escaped quote, doubled, does both). The first ``skip`` rows (a CSV header) are not counted."""

    def __init__(self, quoted, skip=0):
        self.quoted, self.skip = quoted, skip
        self.inside, self.tail, self.rows = False, b"", 0

    def feed(self, block):
        """The rows the block ends (``rows`` adds them up)."""
        if not self.quoted:
            rows = block.count(b"\n")
        else:
            rows = 0
            for i, part in enumerate(block.split(b'"')):
                self.inside ^= i > 0
                rows += 0 if self.inside else part.count(b"\n")
        self.tail = block[-1:] or self.tail
        skipped = min(rows, self.skip)
        self.skip -= skipped
        self.rows += rows - skipped
        return rows - skipped

    def finish(self):
        """1 for a last row without its newline (or with an unclosed quote), else 0."""
        return int((self.inside or self.tail not in (b"", b"\n")) and not self.skip)


def counter(fmt):
    """A RowCounter for a file of ``fmt`` (``csv``: its header is not a row)."""
    return RowCounter(fmt == "csv", skip=int(fmt == "csv"))


def count_rows(path, fmt):
    """Rows in the file, the CSV header not counted: one pass over its bytes, for a progress total."""
    rows = counter(fmt)
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            rows.feed(block)
    return rows.rows + rows.finish()


def count_records(path, fmt):
    """Records in the file, as ``chunks`` sends them (no blank one, the CSV header not counted):
    the progress total of a chunked import, one pass of the csv module (or over lines)."""
    return max(0, sum(1 for _ in records(path, fmt)) - (fmt == "csv"))


def blocks(path, rows, advance):
    """The file's bytes a block at a time, calling ``advance`` with the rows each block ends (by
    ``rows``, a RowCounter) as it is taken: a streamed upload's progress."""
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            advance(rows.feed(block))
            yield block
        advance(rows.finish())


def records(path, fmt):
    """(first line, bytes) of each non-blank record of the file, the CSV header first, each ending
    with a newline: CSV records as ``csv_records`` splits them, the server's way, so that a chunk
    holds the records the server would read in the whole file; NDJSON lines split at LF only."""
    with open(path, "rb") as f:
        if fmt == "csv":
            for record in csv_records(f):
                yield record.line, record.data + b"\n"
            return
        for line, data in enumerate(f, 1):
            if data.strip():
                yield line, data if data.endswith(b"\n") else data + b"\n"


# --- CSV records, as the import reads them ------------------------------------------------------

BOM = b"\xef\xbb\xbf"
_UNQUOTED = re.compile(rb',"|[\r\n]')  # outside quotes: a quoted field opens, or the record ends
_QUOTED = re.compile(rb'[^"]*+(?:""[^"]*+)*+')  # inside quotes: up to a quote that is not doubled
_BREAK = re.compile(rb"[\r\n]")
PROBLEMS = {"unclosed": "a quote opened in it never closes.",
            "after_quote": "a closing quote is followed by something other than a comma or a line break."}


class Record(NamedTuple):
    """A CSV record: ``line``, the line it starts on (1-based); ``data``, its bytes without the line
    break that ends it (None past ``keep`` bytes); ``problem``, None or why it is not CSV (then the
    record is its first line only, and the next one starts on the line after)."""

    line: int
    data: bytes | None
    problem: str | None = None


def breaks(data):
    """The line breaks in ``data``: CR, LF and CRLF, each one."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _Window:
    """A binary file's bytes from the record being read (``mark``) on, read a block at a time as
    the scan needs them. A record past ``keep`` bytes is scanned through, not kept."""

    def __init__(self, raw, keep):
        self.raw, self.keep = raw, keep
        self.base = self.mark = raw.tell()
        self.buf, self.eof, self.lost = b"", False, 0  # lost: the record's line breaks dropped

    def _more(self, at):
        """Read a block, dropping what is before the record (or, past ``keep``, before ``at``)."""
        if self.eof:
            return False
        block = self.raw.read(BLOCK)
        self.eof = not block
        over = self.keep is not None and at - self.mark > self.keep
        cut = max(0, (at - 1 if over else self.mark) - self.base)
        if cut and self.buf[cut - 1:cut] == b"\r":
            cut -= 1  # a CRLF stays whole
        self.lost += breaks(self.buf[max(0, self.mark - self.base):cut])
        self.buf, self.base = self.buf[cut:] + block, self.base + cut
        return bool(block)

    def begin(self, at):
        """Start a record at ``at``."""
        if not self.base <= at <= self.base + len(self.buf):
            self.raw.seek(at)
            self.buf, self.base, self.eof = b"", at, False
        self.mark, self.lost = at, 0

    def byte(self, at):
        """The byte at ``at``, b"" past the end."""
        i = at - self.base
        if i >= len(self.buf):
            while at >= self.base + len(self.buf) and self._more(at):
                pass
            i = at - self.base
        return self.buf[i:i + 1]

    def search(self, pattern, at):
        """(offset, bytes) of ``pattern``'s next match from ``at`` on, or (end of file, b"")."""
        while True:
            found = pattern.search(self.buf, at - self.base)
            if found:
                return found.start() + self.base, found.group()
            at = max(at, self.base + len(self.buf) - 1)  # a comma at the end may open a quoted field
            if not self._more(at):
                return self.base + len(self.buf), b""

    def closing_quote(self, at):
        """The offset of the quote closing a quoted field that goes on at ``at`` (a doubled quote is
        text), or the end of the file."""
        while True:
            end = _QUOTED.match(self.buf, at - self.base).end() + self.base
            if end + 1 < self.base + len(self.buf) or not self._more(end):
                return end  # the quote and the byte after it are read: it is not doubled
            at = end

    def scan(self, at):
        """(end, problem) of the record starting at ``at``: where its line break (or the file)
        begins, or where it proves not to be CSV."""
        quoted = self.byte(at) == b'"'
        at += quoted
        while True:
            if not quoted:
                at, found = self.search(_UNQUOTED, at)
                if found != b',"':
                    return at, None
                quoted, at = True, at + 2
                continue
            at = self.closing_quote(at)
            if self.byte(at) == b"":
                return at, "unclosed"
            after = self.byte(at + 1)
            if after == b",":
                quoted, at = False, at + 1
            elif after in (b"", b"\r", b"\n"):
                return at + 1, None
            else:
                return at + 1, "after_quote"

    def take(self, start, end):
        """The bytes from ``start`` to ``end``, or None past ``keep``."""
        if self.keep is not None and end - start > self.keep or start < self.base:
            return None
        return self.buf[start - self.base:end - self.base]

    def ending(self, at):
        """The length of the line break at ``at`` (CRLF: 2; none: 0)."""
        first = self.byte(at)
        if first == b"\r":
            return 1 + (self.byte(at + 1) == b"\n")
        return int(first == b"\n")


def csv_records(raw, keep=None):
    """Each non-blank record of the CSV file ``raw`` (binary, from where it stands; a byte-order
    mark skipped), header first, as ``Record``s: split as the csv module's reader splits them
    (RFC 4180: a field that opens with a quote may hold commas, doubled quotes and line breaks;
    records end at CR, LF or CRLF), on bytes, so that a bad byte or a long record costs only its
    own record. Memory holds one record (``keep`` bytes at most) and a block."""
    window = _Window(raw, keep)
    at, line = window.base, 1
    if b"".join(window.byte(at + i) for i in range(3)) == BOM:
        at += 3
    while first := window.byte(at):
        if first in b"\r\n":  # a blank line is no record
            at, line = at + window.ending(at), line + 1
            continue
        window.begin(at)
        end, problem = window.scan(at)
        if problem:  # the record is its first line; the next starts on the line after
            window.begin(at)
            end, _ = window.search(_BREAK, at)
            yield Record(line, window.take(at, end), PROBLEMS[problem])
            at, line = end + window.ending(end), line + 1
            continue
        data = window.take(at, end)
        yield Record(line, data)
        if data is None:
            data = window.buf[max(at, window.base) - window.base:end - window.base]
        line, at = line + window.lost + breaks(data) + 1, end + window.ending(end)


class Chunk:
    """Records sent in one request, and where each began in the file: the server numbers the
    lines of the body it got, the user wants those of the file."""

    def __init__(self, header, found):
        self.header, self.records, self.starts = header, found, []
        at = breaks(header) + 1
        for _, text in found:
            self.starts.append(at)
            at += breaks(text)

    def body(self):
        return self.header + b"".join(text for _, text in self.records)

    def file_line(self, line):
        """The line of the file that is ``line`` of the body."""
        i = bisect.bisect_right(self.starts, line) - 1
        return line if i < 0 else self.records[i][0] + line - self.starts[i]


def chunks(path, fmt, size):
    """Chunks of ``size`` records of the file; CSV ones repeat its header row."""
    found = records(path, fmt)
    header = next(found, (1, b""))[1] if fmt == "csv" else b""
    while batch := list(itertools.islice(found, size)):
        yield Chunk(header, batch)
