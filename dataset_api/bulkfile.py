"""The files ``dataset-api import`` reads and ``export`` writes (NDJSON, CSV): rows counted without
parsing, records split as the csv module reads them, chunks that know their lines in the file.
Pure: no HTTP, no database; nothing here holds a whole file."""

import bisect
import csv
import itertools

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
    """(first line, text) of each non-blank record of the file, the CSV header first; CSV records
    are split by the csv module, as quoted fields may hold newlines, and kept as written."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        line = 1
        for text in csv_texts(f) if fmt == "csv" else f:
            if text.strip():
                yield line, text if text.endswith("\n") else text + "\n"
            line += text.count("\n")


def csv_texts(lines):
    """The text of each CSV record of ``lines``: the lines the csv reader took for it."""
    taken = []

    def tap():
        for line in lines:
            taken.append(line)
            yield line

    for _ in csv.reader(tap()):  # the reader takes no line past the end of its record
        yield "".join(taken)
        taken.clear()


class Chunk:
    """Records sent in one request, and where each began in the file: the server numbers the
    lines of the body it got, the user wants those of the file."""

    def __init__(self, header, found):
        self.header, self.records, self.starts = header, found, []
        at = header.count("\n") + 1
        for _, text in found:
            self.starts.append(at)
            at += text.count("\n")

    def body(self):
        return (self.header + "".join(text for _, text in self.records)).encode()

    def file_line(self, line):
        """The line of the file that is ``line`` of the body."""
        i = bisect.bisect_right(self.starts, line) - 1
        return line if i < 0 else self.records[i][0] + line - self.starts[i]


def chunks(path, fmt, size):
    """Chunks of ``size`` records of the file; CSV ones repeat its header row."""
    found = records(path, fmt)
    header = next(found, (1, ""))[1] if fmt == "csv" else ""
    while batch := list(itertools.islice(found, size)):
        yield Chunk(header, batch)
