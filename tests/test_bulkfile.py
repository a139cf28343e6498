"""dataset_api/bulkfile.py, pure: rows counted without parsing, CSV records split as the csv
module reads them (quoted newlines kept), chunks that map the lines of their body to the file's."""

import pytest

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
    assert "".join(text for _, text in found) == CSV.replace("\r\n\r\n", "\r\n") + "\n"


def test_chunks_repeat_the_header_and_map_their_lines_to_the_file(tmp_path):
    (tmp_path / "f.csv").write_text(CSV, newline="")
    first, second = bulkfile.chunks(tmp_path / "f.csv", "csv", 2)
    assert first.body().decode() == CSV[:CSV.index("\r\n\r\n") + 2]
    assert second.body().decode() == "resource,priority,job_id,annotations\r\nd.png,3,,[]\n"
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
