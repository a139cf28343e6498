"""Schemathesis from outside, as a CI user runs it (DESIGN §9): the ``st`` command against the
document a live ``dataset-api serve`` serves, with every check and the default generation. It must
report nothing.

The only settings: a fixed seed, a number of examples and a time budget (so that the run is
repeatable and bounded), an admin token, the committed hooks (tests/schemathesis_hooks.py: serializers
and formats beyond plain JSON), and ``--generation-allow-x00 false``: the keys of free-form JSON
objects (``dimensions``, ``annotation``, ``metadata``…) may not hold U+0000 either, which OpenAPI 3.0
cannot say (no ``propertyNames``), so the document says it in words. Everywhere else the document
states the rule (``pattern``) and the server keeps to it. The repository's schemathesis.toml lists
the statuses that depend on stored data rather than on the request (a stale If-Match: 412, assigning
a non-member: 422...), which no schema can say; ``st explain ST202`` suggests exactly this for them.

SQLite in the server's own data folder. Run alone: ``python -m pytest -m outside``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server, step

pytestmark = pytest.mark.outside

ROOT = Path(__file__).resolve().parent.parent
SEED = 1
MAX_EXAMPLES = 20  # per operation, for the fuzzing and stateful phases
# The coverage phase does not depend on MAX_EXAMPLES: it walks every parameter's boundaries, about
# 36,000 requests for this document, ~15 minutes on 2 cores. The time budget bounds the whole run
# (Schemathesis shares it among the phases). One worker: with more, CPython 3.11.7 can raise
# "SystemError: AST constructor recursion depth mismatch" in Hypothesis (python/cpython#106905).
MAX_TIME = 7 * 60
TIMEOUT = MAX_TIME + 10 * 60  # a guard against a hang only: the budget ends phases, not requests
# st's resident memory, sampled while it runs (issue #24: it reached 12.9 GB before the hooks gave
# freed memory back; docs/design-choices.md, "st's resident memory").
MAX_RSS = 1536 * 2**20
SAMPLE_EVERY = 0.5  # seconds

# The repository's schemathesis.toml: the statuses that depend on stored data (see its comments).
CONFIG = ROOT / "schemathesis.toml"


def resident(pid):
    """``pid``'s resident set size in bytes (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def run_sampled(command, timeout, **kwargs):
    """Run ``command``; return (its CompletedProcess, its peak resident size in bytes)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs)
        peak, deadline = 0, time.monotonic() + timeout
        while proc.poll() is None:
            peak = max(peak, resident(proc.pid))
            over = (f"ran over {timeout} s" if time.monotonic() > deadline else
                    f"reached {peak / 2**20:.0f} MiB resident" if peak > 3 * MAX_RSS else "")
            if over:  # stopped before it takes the machine's memory, as it once took 12.9 GB
                proc.kill()
                proc.wait()
                out.seek(0)
                pytest.fail(f"schemathesis {over}:\n{out.read()[-20000:]}")
            time.sleep(SAMPLE_EVERY)
        out.seek(0)
        return subprocess.CompletedProcess(command, proc.returncode, out.read(), ""), peak


def st_command():
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("outside"), "", workers=2) as srv:
        yield srv


def test_schemathesis_from_outside_finds_nothing(server):
    bearer = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
    command = [
        *st_command(), "--config-file", str(CONFIG), "run", server.url + "/openapi.json",
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
    with step(f"st run: Schemathesis from outside, {MAX_TIME} s budget"):
        run, peak = run_sampled(command, TIMEOUT, cwd=ROOT, env=env)
    report = run.stdout
    print(f"st peak resident memory: {peak / 2**20:.0f} MiB (limit {MAX_RSS / 2**20:.0f} MiB)")
    assert run.returncode == 0, (
        f"schemathesis exited {run.returncode} after {time.monotonic() - started:.0f} s:\n"
        f"{report[-30000:]}\n--- server log ---\n{server.log_tail(60)}")
    assert not server.error_lines(), "\n".join(server.error_lines()[:40])
    assert peak <= MAX_RSS, f"st peaked at {peak / 2**20:.0f} MiB resident (limit {MAX_RSS / 2**20:.0f} MiB)"
    # The run's summary (operations, cases, phases), shown with ``pytest -rP``.
    print(report[report.rfind("SUMMARY"):] if "SUMMARY" in report else report[-3000:])
