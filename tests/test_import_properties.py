"""``POST /datasets/{id}/import`` over generated NDJSON and CSV files with faults put in (bad
bytes, records over 1 MiB, wrong widths, quotes that never close, blank lines, bad JSON, bad
values, resources repeated or already held): every record is created, updated, skipped or listed
as a bad line at the line it starts on, so created + updated + skipped + error_count is the
number of records; without ``partial`` a bad line means nothing is written."""

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset_api.bulkfile import breaks
from dataset_api.transfer.lines import unguard
from tests import factories
from tests.test_import import listed, upload

MIB = 1024 * 1024
HELD = ("held-0", "held-1")  # in the dataset before the import
CSV_HEADER = ["resource", "priority", "job_id", "annotations"]
NOTES = [{"dimensions": {"x": 1}, "annotation": {"label": "a"}}]
# a text cell may hold anything but begins with what could open a formula or close a stray quote
# early (a quote, comma or line break at the start of a quoted field would close it and go on):
# the records after a stray quote then read as the file means them
_PREFIXES = st.sampled_from(["", "=", "+", "-", "@", "\t", "'", "'=", "''", "'a"])
_TEXT = st.text(st.sampled_from('ab ,"\r\n=é\u2028\x85\''), max_size=6)
GOOD, FAULT, BLANK = "good", "fault", "blank"
FAULTS = ("bad_bytes", "oversized", "wide", "narrow", "stray_quote", "bad_json", "bad_value", "repeat")


@st.composite
def items(draw):
    """A list of (GOOD, resource, priority, job_id, annotations) / (FAULT, kind) / (BLANK,)."""
    found = []
    for i in range(draw(st.integers(0, 9))):
        kind = draw(st.sampled_from([GOOD, GOOD, GOOD, FAULT, FAULT, BLANK]))
        if kind == GOOD:
            resource = draw(st.sampled_from(HELD)) if draw(st.integers(0, 5)) == 0 else \
                draw(_PREFIXES) + f"r{i}" + draw(_TEXT)
            found.append((GOOD, resource, draw(st.sampled_from([None, 0, -3, 2**31 - 1])),
                          draw(st.one_of(st.none(), _PREFIXES.map(lambda p: p + "job"))),
                          draw(st.sampled_from([None, NOTES]))))
        elif kind == FAULT:
            fault = draw(st.sampled_from(FAULTS))
            if fault == "oversized" and any(it[:2] == (FAULT, "oversized") for it in found):
                fault = "wide"  # one long record per file is enough
            found.append((FAULT, fault))
        else:
            found.append((BLANK,))
    return found


def _csv_row(cells, ending):
    out = io.StringIO(newline="")
    # written with CRLF, which has csv quote every CR and LF (with "\r" alone, 3.11 leaves LF bare)
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()[:-2].encode() + ending.encode()


def csv_record(item, i, ending):
    """The bytes of one CSV record (its line break included)."""
    if item[0] == GOOD:
        _, resource, priority, job_id, notes = item
        return _csv_row([resource, "" if priority is None else priority, job_id or "",
                         "" if notes is None else json.dumps(notes)], ending)
    fault = item[1]
    raw = {"bad_bytes": b"bad\xff%d,1,," % i, "oversized": b"big%d,," % i + b"7" * MIB + b",",
           "wide": b"w%d,1,,,x" % i, "narrow": b"n%d,1" % i, "stray_quote": b'"stray%d,1,,' % i}
    if fault in raw:
        return raw[fault] + ending.encode()
    cells = {"bad_json": [f"j{i}", "", "", "[{not json"], "bad_value": [f"v{i}", "x", "", ""]}
    return _csv_row(cells.get(fault, [f"dup{i}", "", "", ""]), ending)


def ndjson_record(item, i):
    if item[0] == GOOD:
        _, resource, priority, job_id, notes = item
        line = {"resource": resource, "priority": priority, "job_id": job_id}
        if notes is not None:
            line["annotations"] = notes
        return json.dumps(line).encode() + b"\n"
    raw = {"bad_bytes": b'{"resource": "bad\xff%d"}' % i,
           "oversized": b'{"resource": "big%d", "job_id": "' % i + b"x" * MIB + b'"}',
           "wide": b'{"resource": "w%d", "colour": 1}' % i, "narrow": b"[%d]" % i,
           "stray_quote": b'{"resource": "stray%d' % i, "bad_json": b"{not json",
           "bad_value": b'{"resource": "v%d", "priority": 2147483648}' % i,
           "repeat": b'{"resource": "dup%d"}' % i}
    return raw[item[1]] + b"\n"


def build(fmt, found, ending):
    """(body, records, bad lines, [(line, resource)] of the good records) of a file of ``found``:
    a resource written before is a bad line (``repeat`` repeats the last good one, or is a good
    record of its own when there is none)."""
    body = b"resource,priority,job_id,annotations" + ending.encode() if fmt == "csv" else b""
    records, bad, good, last = 0, [], [], None
    for i, item in enumerate(found):
        line = breaks(body) + 1
        if item[0] == BLANK:
            body += ending.encode() if fmt == "csv" else b"  \n"
            continue
        records += 1
        if item[:2] == (FAULT, "repeat"):
            item = (GOOD, f"dup{i}" if last is None else last, None, None, None)
        body += csv_record(item, i, ending) if fmt == "csv" else ndjson_record(item, i)
        if item[0] != GOOD:
            bad.append(line)
            continue
        resource = unguard(item[1]) if fmt == "csv" else item[1]
        if any(resource == seen for _, seen in good):
            bad.append(line)
        else:
            good.append((line, resource))
            last = item[1]
    return body, records, bad, good


def outcome(good, on_conflict):
    """The bad lines among the good records (already held, with on_conflict=error) and what the
    others do."""
    bad, done = [], {}
    for line, resource in good:
        if resource not in HELD:
            done[resource] = "created"
        elif on_conflict == "error":
            bad.append(line)
        else:
            done[resource] = "skipped" if on_conflict == "skip" else "updated"
    return bad, done


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fmt=st.sampled_from(["csv", "ndjson"]), found=items(), ending=st.sampled_from(["\r\n", "\n", "\r"]),
       on_conflict=st.sampled_from(["error", "skip", "update"]))
def test_every_record_is_written_or_listed_at_its_line(api, fmt, found, ending, on_conflict):
    dataset = factories.dataset(api, factories.project(api))
    upload(api, dataset, "".join(json.dumps({"resource": r}) + "\n" for r in HELD))
    body, records, bad, good = build(fmt, found, ending if fmt == "csv" else "\n")
    held_bad, done = outcome(good, on_conflict)
    bad = sorted(bad + held_bad)
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"

    resp = upload(api, dataset, body, media, on_conflict=on_conflict)
    if bad:  # all or nothing: nothing is written, every bad line is listed
        assert resp.status_code == 422, resp.text
        assert sorted(e["meta"]["line"] for e in resp.json()["errors"]) == bad
        assert resp.json()["meta"]["error_count"] == len(bad)
        assert set(listed(api, dataset)) == set(HELD)
        resp = upload(api, dataset, body, media, on_conflict=on_conflict, partial="true")
    assert resp.status_code == 200, resp.text
    meta = resp.json()["meta"]
    assert meta["created"] + meta["updated"] + meta["skipped"] + meta.get("error_count", 0) == records
    assert sorted(e["meta"]["line"] for e in meta.get("errors", [])) == bad
    counts = {kind: sum(1 for v in done.values() if v == kind) for kind in ("created", "updated", "skipped")}
    assert {kind: meta[kind] for kind in counts} == counts
    assert set(listed(api, dataset)) == set(HELD) | set(done)
