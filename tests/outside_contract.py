"""Schemathesis from outside, as a CI user runs it (DESIGN §9): the ``st`` command against the
document a live ``dataset-api serve`` serves, with every check and the default generation. It must
report nothing.

The only settings: a fixed seed, a number of examples and a time budget (so that the run is
repeatable and bounded), an admin token, the committed hooks (tests/schemathesis_hooks.py: serializers
and formats beyond plain JSON), and ``--generation-allow-x00 false``: the keys of free-form JSON
objects (``dimensions``, ``annotation``, ``metadata``…) may not hold U+0000 either, which OpenAPI 3.0
cannot say (no ``propertyNames``), so the document says it in words. Everywhere else the document
states the rule (``pattern``) and the server keeps to it. CONFIG below lists the statuses that
depend on stored data rather than on the request (a stale If-Match: 412, assigning a non-member:
422...), which no schema can say; ``st explain ST202`` suggests exactly this for them.

SQLite in the server's own data folder. Run alone: ``python -m pytest -m outside``.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server

pytestmark = pytest.mark.outside

ROOT = Path(__file__).resolve().parent.parent
SEED = 1
MAX_EXAMPLES = 20  # per operation, for the fuzzing and stateful phases
# The coverage phase does not depend on MAX_EXAMPLES: it walks every parameter's boundaries, about
# 36,000 requests for this document, ~15 minutes on 2 cores. The time budget bounds the whole run
# (Schemathesis shares it among the phases). One worker: with more, CPython 3.11.7 can raise
# "SystemError: AST constructor recursion depth mismatch" in Hypothesis (python/cpython#106905).
MAX_TIME = 7 * 60
TIMEOUT = MAX_TIME + 3 * 60

# Passed with --config-file (a repository-root schemathesis.toml with this content would do the same
# for `st run` started there). Nothing else is configured: every check keeps its defaults.
CONFIG = """\
# Statuses DESIGN fixes for requests that are well-formed but meet stored data that makes them fail.
# No schema can say these (they depend on what is stored, not on the request), so Schemathesis's
# "schema-valid request rejected" check is told they are answers, as `st explain ST202` suggests.
# Everything else keeps the tool's defaults.

# §3: If-Match names an ETag; a well-formed one that is not the record's current ETag is 412.
[[operations]]
include-name = [
  "PATCH /projects/{id}", "DELETE /projects/{id}",
  "PATCH /project_members/{id}", "DELETE /project_members/{id}",
  "PATCH /datasets/{id}", "DELETE /datasets/{id}",
  "PATCH /entries/{id}", "DELETE /entries/{id}",
  "PATCH /annotations/{id}", "DELETE /annotations/{id}",
  "PATCH /note_feeds/{id}", "DELETE /note_feeds/{id}",
  "PATCH /note_comments/{id}", "DELETE /note_comments/{id}",
]
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx",
]

# §4: assigning an account that is not an enabled member whose role fits the step is 422.
# §4: submitting at the review step without `approved` is 422.
# §2: a note feed on an annotation of another entry (a parent that exists but does not fit) is 422.
[[operations]]
include-name = ["PATCH /entries/{id}/assign", "POST /entries/{id}/submit", "POST /note_feeds"]
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx",
]
"""


def st_command():
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("outside"), "", workers=2)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_schemathesis_from_outside_finds_nothing(server, tmp_path):
    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        *st_command(), "--config-file", str(config), "run", server.url + "/openapi.json",
        "--checks", "all",
        "--seed", str(SEED),
        "--max-examples", str(MAX_EXAMPLES),
        "--max-time", str(MAX_TIME),
        "--generation-allow-x00", "false",
        "--header", f"Authorization: Bearer {bearer}",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis ran over {TIMEOUT} s:\n{(exc.stdout or '')[-20000:]}")
    report = run.stdout + run.stderr
    assert run.returncode == 0, (
        f"schemathesis exited {run.returncode} after {time.monotonic() - started:.0f} s:\n"
        f"{report[-30000:]}\n--- server log ---\n{server.log_tail(60)}")
    assert not server.error_lines(), "\n".join(server.error_lines()[:40])
