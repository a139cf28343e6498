"""dataset_api/bulkfile.py, pure: rows counted without parsing, CSV records split as the csv
module reads them (quoted newlines kept), chunks that map the lines of their body to the file's."""

import csv
import io
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataset_api import bulkfile

CSV = (
    'resource,priority,job_id,annotations\r\n'
    'a.png,1,,[]\r\n'
    '"b\r\nc.png",2,,"[{""dimensions"": {}, ""annotation"": {""note"": ""two\nlines""}}]"\r\n'
    '\r\n'
    'd.png,3,,[]'
)
NDJSON = '{"resource": "a.png"}\n\n{"resource": "b.png"}\n{"resource": "c.png"}'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 20])
def test_rows_are_counted_across_blocks_whatever_their_size(tmp_path, monkeypatch, size):
    monkeypatch.setattr(bulkfile, "BLOCK", size)
    (tmp_path / "f.csv").write_text(CSV, newline="")
    (tmp_path / "f.jsonl").write_text(NDJSON)
    # CSV: the header is no row, a quoted newline ends none, the blank line is one (the server's)
    assert bulkfile.count_rows(tmp_path / "f.csv", "csv") == 4
    assert bulkfile.count_rows(tmp_path / "f.jsonl", "ndjson") == 4


@pytest.mark.parametrize("fmt, text, rows", [
    ("ndjson", b"", 0), ("ndjson", b"a\n", 1), ("ndjson", b"a", 1),
    ("csv", b'h\n"a\n', 1), ("csv", b"h\n", 0), ("csv", b"h", 0),
])
def test_a_last_row_without_its_newline_counts(fmt, text, rows):
    counter = bulkfile.counter(fmt)
    counter.feed(text)
    assert counter.rows + counter.finish() == rows


def test_csv_records_keep_their_text_and_first_line(tmp_path):
    (tmp_path / "f.csv").write_text(CSV, newline="")
    found = list(bulkfile.records(tmp_path / "f.csv", "csv"))
    assert [line for line, _ in found] == [1, 2, 3, 7]  # the blank line 6 is no record
    # each record as written (its quoted line breaks too), ended by a newline of its own
    assert [text for _, text in found] == [
        b"resource,priority,job_id,annotations\n", b"a.png,1,,[]\n",
        b'"b\r\nc.png",2,,"[{""dimensions"": {}, ""annotation"": {""note"": ""two\nlines""}}]"\n',
        b"d.png,3,,[]\n"]


def test_chunks_repeat_the_header_and_map_their_lines_to_the_file(tmp_path):
    (tmp_path / "f.csv").write_text(CSV, newline="")
    first, second = bulkfile.chunks(tmp_path / "f.csv", "csv", 2)
    header, *records = [text for _, text in bulkfile.records(tmp_path / "f.csv", "csv")]
    assert first.body() == header + records[0] + records[1]
    assert second.body() == b"resource,priority,job_id,annotations\nd.png,3,,[]\n"
    assert [first.file_line(n) for n in range(1, 7)] == [1, 2, 3, 4, 5, 6]
    assert [second.file_line(n) for n in (1, 2)] == [1, 7]


def test_ndjson_chunks_leave_blank_lines_out(tmp_path):
    (tmp_path / "f.jsonl").write_text(NDJSON)
    chunks = list(bulkfile.chunks(tmp_path / "f.jsonl", "ndjson", 2))
    assert [c.body().decode() for c in chunks] == [
        '{"resource": "a.png"}\n{"resource": "b.png"}\n', '{"resource": "c.png"}\n']
    assert [chunks[0].file_line(n) for n in (1, 2)] == [1, 3]
    assert chunks[1].file_line(1) == 4


def test_blocks_stream_the_file_and_report_rows_as_they_go(tmp_path, monkeypatch):
    monkeypatch.setattr(bulkfile, "BLOCK", 5)
    (tmp_path / "f.jsonl").write_text(NDJSON)
    seen = []
    streamed = b"".join(bulkfile.blocks(tmp_path / "f.jsonl", bulkfile.counter("ndjson"), seen.append))
    assert streamed == NDJSON.encode()
    assert sum(seen) == 4 and len(seen) > 4


def test_records_are_counted_as_chunks_send_them(tmp_path):
    (tmp_path / "f.csv").write_text(CSV, newline="")
    (tmp_path / "f.jsonl").write_text(NDJSON)
    (tmp_path / "empty.csv").write_text("")
    assert bulkfile.count_records(tmp_path / "f.csv", "csv") == 3
    assert bulkfile.count_records(tmp_path / "f.jsonl", "ndjson") == 3
    assert bulkfile.count_records(tmp_path / "empty.csv", "csv") == 0


def split(data, keep=None):
    return [tuple(r) for r in bulkfile.csv_records(io.BytesIO(data), keep)]


_TEXT = st.text(st.sampled_from('ab,"\r\n é\t\'='), max_size=8)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rows=st.lists(st.lists(_TEXT, min_size=1, max_size=4), max_size=6),
       ending=st.sampled_from(["\r\n", "\n", "\r"]), block=st.sampled_from([1, 2, 3, 64, 1 << 18]))
def test_csv_records_are_the_csv_modules_whatever_the_blocks(rows, ending, block):
    """Any file csv.writer writes splits into the records csv.reader reads, each at the line it
    starts on, whatever the size of the blocks read."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=ending).writerows(rows)
    with mock.patch.object(bulkfile, "BLOCK", block):
        found = split(out.getvalue().encode())
    reader = csv.reader(io.StringIO(out.getvalue(), newline=""), strict=True)
    expected, start = [], 1
    for fields in reader:
        if fields:
            expected.append((start, fields))
        start = reader.line_num + 1
    assert [(line, next(csv.reader([data.decode()]), [])) for line, data, _ in found] == expected
    assert all(problem is None for *_, problem in found)


@pytest.mark.parametrize("block", [1, 4, 1 << 18])
def test_a_record_that_is_not_csv_is_its_first_line(monkeypatch, block):
    """A quote that never closes, or text after a closing quote: the record is its first line,
    named with its problem, and the next one starts on the line after."""
    monkeypatch.setattr(bulkfile, "BLOCK", block)
    found = split(b'h\n"open,1\nb,"x,y"\n"a"b,2\n"multi\nline"!,3\nc,4\n"never\n')
    assert [(line, data, problem and problem.split()[1]) for line, data, problem in found] == [
        (1, b"h", None), (2, b'"open,1', "closing"), (3, b'b,"x,y"', None), (4, b'"a"b,2', "closing"),
        (5, b'"multi', "closing"), (6, b'line"!,3', None), (7, b"c,4", None), (8, b'"never', "quote")]


@pytest.mark.parametrize("block", [1, 5, 1 << 18])
def test_bad_bytes_and_long_records_cost_only_their_own(monkeypatch, block):
    monkeypatch.setattr(bulkfile, "BLOCK", block)
    data = b'\xef\xbb\xbfh\r\nbad\xff\xfe,1\r\n"' + b"long\n" * 10 + b'",2\r\n\r\nshort,3\r"x' + b"y" * 40
    assert split(data, keep=20) == [
        (1, b"h", None), (2, b"bad\xff\xfe,1", None), (3, None, None), (15, b"short,3", None),
        (16, None, bulkfile.PROBLEMS["unclosed"])]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(lines=st.lists(st.sampled_from([b"a,1", b'"q,1', b'"x""y",2', b'"m\nn",3', b'z"w,4', b'"a"b,5',
                                       b"", b"\xff,6", b'"",7', b'",8']), max_size=12),
       size=st.integers(1, 4))
def test_chunks_split_as_the_whole_file_does(tmp_path_factory, lines, size):
    """However a file is cut into chunks, each chunk's body splits (on the server) into the
    records the whole file holds, at the same lines of the file: a chunked import refuses and
    writes what a whole one does."""
    path = tmp_path_factory.mktemp("chunks") / "f.csv"
    path.write_bytes(b"h,i\n" + b"\n".join(lines))
    whole = [(line, data, problem is None) for line, data, problem in split(path.read_bytes())[1:]]
    seen = []  # a problem may read otherwise (the chunk ends before the quote the file closes with)
    for chunk in bulkfile.chunks(path, "csv", size):
        seen += [(chunk.file_line(line), data, problem is None)
                 for line, data, problem in split(chunk.body())[1:]]
    assert seen == whole
