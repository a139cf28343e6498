"""Sections of docs/performance.md owned by one benchmark each, between ``<!-- name -->`` and
``<!-- /name -->``. A benchmark rewrites only its own section and keeps its raw results in a
``<!-- name-data … -->`` comment inside it, so every tool can be re-run alone."""

import json
import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def markers(name):
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def saved(name):
    """The raw results stored in section ``name`` (empty when there is none yet)."""
    begin, end = markers(name)
    text = DOC.read_text() if DOC.exists() else ""
    start, stop = text.find(begin), text.find(end)
    if start == -1 or stop < start:
        return {}
    found = re.compile(rf"<!-- {re.escape(name)}-data\n(.*?)\n-->", re.S).search(text, start, stop)
    return json.loads(found.group(1)) if found else {}


def write(name, body, runs):
    """Replace section ``name`` with ``body`` (markdown lines) and the raw ``runs``; re-read the
    file right before writing, since the other benchmarks edit it too."""
    begin, end = markers(name)
    # "--" may not appear inside an HTML comment; JSON reads the escaped form back unchanged
    data = json.dumps(runs, indent=1).replace("--", "-\\u002d")
    content = "\n".join([begin, *body, f"<!-- {name}-data", data, "-->", end])
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    start, stop = text.find(begin), text.find(end)
    if start != -1 and stop > start:
        before, after = text[:start], text[stop + len(end):]
    else:
        before, after = text.rstrip("\n") + "\n\n", "\n"
    DOC.parent.mkdir(exist_ok=True)
    tmp = DOC.with_name(f".{DOC.name}.{os.getpid()}")
    tmp.write_text(before + content + after)
    os.replace(tmp, DOC)
