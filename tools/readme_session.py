"""Runs the README's walk-through as a reader pastes it, and checks what it prints.

The ```sh blocks of the sections named in SECTIONS run in order, in one bash (``set -euo
pipefail``), in a fresh folder laid out like a checkout: ``.venv`` (a link to the venv under test,
which the first block activates) and ``examples/``, next to ``dataset-api serve`` started there as
the README says (its ``./data`` and secret), on a free port named by ``DATASET_API_PORT`` and, to
the blocks, by ``DATASET_API_URL``. Only the standard library, so any python3 runs it.

Two callers: tests/test_readme.py (the checkout's venv) and .ci/wheel-check (a venv holding only
the built wheel, from a folder unrelated to the repository):

    python3 tools/readme_session.py --bin /path/to/venv/bin
"""

import argparse
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("A first session", "Bulk import and export", "Events and webhooks")


@dataclass
class Block:
    section: str
    number: int  # 1, 2… within its section
    code: str
    status: int | None = None  # bash's exit status; None: not reached
    stdout: str = ""
    stderr: str = ""

    @property
    def name(self):
        return f"{self.section} #{self.number}"


def blocks(text, sections=SECTIONS):
    """The ```sh blocks of each ``## `` section in ``sections``, in README order; ValueError when a
    section is missing or has none."""
    found = []
    for section in sections:
        match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
        codes = re.findall(r"^```sh\n(.*?)^```", match.group(1), re.S | re.M) if match else []
        if not codes:
            raise ValueError(f"README.md has no ```sh block under '## {section}'")
        found += [Block(section, n, code) for n, code in enumerate(codes, 1)]
    return sorted(found, key=lambda b: text.index(b.code))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(bin_dir):
    """The environment of a reader's terminal: none of the service's settings, ``bin_dir`` first."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DATASET_API_") and k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class Server:
    """``dataset-api serve`` in ``folder``, as the README starts it, on ``port`` (default: a free
    one, another if a process takes it first)."""

    def __init__(self, folder, bin_dir, port=None):
        self.folder, self.bin_dir, self.ports = Path(folder), Path(bin_dir), [port] if port else None
        self.log_path = self.folder / "server.log"
        self.proc = self.url = None

    def __enter__(self):
        for port in self.ports or (free_port() for _ in range(3)):
            if self._start(port):
                return self
            if "Address already in use" not in self.log():
                break
        raise RuntimeError(f"dataset-api serve did not become ready:\n{self.log()[-3000:]}")

    def _start(self, port):
        self.url = f"http://127.0.0.1:{port}"
        # one worker (a documented setting, not the README's command): the session is one client
        env = dict(clean_env(self.bin_dir), DATASET_API_PORT=str(port), DATASET_API_WORKERS="1")
        with open(self.log_path, "wb") as log:  # its own session: stopped as one group
            self.proc = subprocess.Popen([str(self.bin_dir / "dataset-api"), "serve"], cwd=self.folder,
                                         env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 120
        while not healthy(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                return False
            time.sleep(0.3)
        return True

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self):
        return self.log_path.read_text(errors="replace")


def run(folder, bin_dir, readme=ROOT / "README.md", examples=ROOT / "examples", port=None):
    """Run the README's blocks in ``folder`` against a ``dataset-api serve`` started there from
    ``bin_dir``; return (the blocks with their status and output, the server's log, the document
    it served at /openapi.json afterwards)."""
    folder, bin_dir = Path(folder), Path(bin_dir).absolute()
    todo = blocks(Path(readme).read_text(encoding="utf-8"))
    (folder / ".venv").symlink_to(bin_dir.parent, target_is_directory=True)
    shutil.copytree(examples, folder / "examples")
    work = folder / ".readme"
    work.mkdir()
    lines = ["set -euo pipefail"]
    for i, block in enumerate(todo):
        (work / f"{i}.sh").write_text(block.code)
        lines.append(f"echo {i} > .readme/reached; "
                     f"{{ . .readme/{i}.sh; }} > .readme/{i}.out 2> .readme/{i}.err")
    (work / "session.sh").write_text("\n".join(lines) + "\n")
    with Server(folder, bin_dir, port) as server:
        env = dict(clean_env(bin_dir), DATASET_API_URL=server.url)
        done = subprocess.run(["bash", ".readme/session.sh"], cwd=folder, env=env, timeout=300,
                              stdin=subprocess.DEVNULL)
        with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=30) as resp:
            served = json.load(resp)
    reached = int((work / "reached").read_text()) if (work / "reached").exists() else -1
    for i, block in enumerate(todo[:reached + 1]):
        block.status = done.returncode if i == reached else 0
        block.stdout = (work / f"{i}.out").read_text(errors="replace")
        block.stderr = (work / f"{i}.err").read_text(errors="replace")
    return todo, server.log(), served


# What each block prints, as the README's text and comments say; each check returns its problems.
def _first_session(block, folder):
    out = block.stdout.splitlines()
    problems = [] if out.count("201") == 3 else [f"three 201s for the entries, got {out[:3]}"]
    if '"count": 2' not in block.stdout:
        problems.append("the filtered list counts 2 entries (priority >= 2)")
    if out[-2:] != ["['s3://birds/3.jpg', 's3://birds/2.jpg']", "['s3://birds/1.jpg']"]:
        problems.append(f"the cursor walk prints two pages, 3 and 2 then 1: {out[-2:]}")
    return problems


def _queue(block, folder):
    *reply, status = block.stdout.splitlines()
    replies = {r["id"]: r for r in json.loads("\n".join(reply))}
    problems = [f"JSON-RPC {r['id']} failed: {r['error']}" for r in replies.values() if "error" in r]
    if not problems:
        boxes = [a["dimensions"] for a in replies[2]["result"]["data"]]
        if replies[1]["result"]["dimensions"]["x"] != 12 or [b["x"] for b in boxes] != [12]:
            problems.append(f"update moves the box to x=12 and index shows it: {boxes}")
    return problems + ([] if status == "200" else [f"submit answers 200, got {status}"])


def _import_export(block, folder):
    first, *rows = block.stdout.splitlines()
    problems = [] if json.loads(first)["meta"]["created"] == 2 else [f"the import creates 2: {first}"]
    exported = sorted(json.loads(row)["resource"] for row in rows)
    expected = [f"s3://birds/{i}.jpg" for i in range(1, 6)]
    return problems + ([] if exported == expected else [f"the export lists {expected}: {exported}"])


def _examples(folder):
    """(resources of examples/birds.jsonl, of examples/birds.csv)."""
    jsonl = [json.loads(line)["resource"] for line in (folder / "examples" / "birds.jsonl").open()
             if line.strip()]
    with open(folder / "examples" / "birds.csv", newline="") as f:
        return jsonl, [row["resource"] for row in csv.DictReader(f)]


def _bulk(block, folder):
    jsonl, rows = _examples(folder)
    total = 5 + len(jsonl) + len(rows)  # the first session's five entries, then both files
    expected = [f"created {len(jsonl)}, updated 0, skipped 0, refused 0",
                f"created {len(rows)}, updated 0, skipped 0, refused 0",
                f"exported {total} rows", "exported 1 rows"]
    out = block.stdout.splitlines()
    problems = [f"line {i + 1} starts {want!r}: {out[i] if i < len(out) else None!r}"
                for i, want in enumerate(expected) if i >= len(out) or not out[i].startswith(want)]
    every = folder / "birds-all.jsonl"
    if every.exists() and not set(jsonl + rows) <= {json.loads(r)["resource"] for r in every.open()}:
        problems.append("birds-all.jsonl holds every imported resource")
    review = folder / "review.csv"
    if review.exists() and [r["resource"] for r in csv.DictReader(review.open(newline=""))] \
            != ["s3://birds/3.jpg"]:
        problems.append("review.csv holds the entry submitted to review")
    return problems


def _events(block, folder):
    out = block.stdout.splitlines()
    problems = [] if out[:2] == ["200", "200"] else [f"approve and submit answer 200: {out[:2]}"]
    if not block.stderr.startswith("whsec_"):
        problems.append(f"the webhook's secret is shown: {block.stderr[:80]!r}")
    events = [line.split()[:2] for line in out[2:]]
    names = [event for event, _ in events]
    if names != ["dataset:entries:reviewed", "dataset:entries:submitted"] \
            or any(status not in ("pending", "retrying") for _, status in events):
        problems.append(f"a delivery per event, pending or retrying: {out[2:]}")
    return problems


def _activity(block, folder):
    events = [line.split() for line in block.stdout.splitlines()]
    names = [name for _, name, _ in events]
    if names[-2:] != ["dataset:entries:selected", "dataset:entries:submitted"] \
            or any(account != "1" for _, _, account in events):
        return [f"the entry's activity ends claimed and submitted, by account 1: {block.stdout}"]
    return []


CHECKS = {("A first session", 1): _first_session, ("A first session", 2): _queue,
          ("A first session", 3): _import_export, ("Bulk import and export", 1): _bulk,
          ("Events and webhooks", 1): _events, ("Events and webhooks", 2): _activity}


def log_problems(log):
    """Warnings, errors and tracebacks in the server's log (a failing call may still answer)."""
    return [f"server log: {line}" for line in log.splitlines()
            if re.search(r"\w+Warning: | ERROR |^Traceback ", line)]


def problems(done, folder):
    """Every way the finished blocks differ from what the README says they do."""
    found = []
    for block in done:
        if block.status != 0:
            found.append(f"{block.name}: " + ("not reached" if block.status is None else
                                             f"exit {block.status}\n{block.stderr[-2000:]}"))
            continue
        check = CHECKS.get((block.section, block.number))
        try:
            found += [f"{block.name}: {p}" for p in (check(block, Path(folder)) if check else [])]
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # output of another shape
            found.append(f"{block.name}: unexpected output ({exc!r}):\n{block.stdout[-2000:]}")
    unchecked = {(b.section, b.number) for b in done} - set(CHECKS)
    return found + [f"{s} #{n}: no check of its output (tools/readme_session.py CHECKS)"
                    for s, n in sorted(unchecked)]


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--bin", required=True, help="the bin folder of the venv that holds dataset-api")
    args.add_argument("--folder", help="run here (an empty folder; default: a temporary one)")
    args = args.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="readme-session-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done, log, served = run(folder, args.bin)
        found = problems(done, folder) + log_problems(log)
        for block in done:
            print(f"{block.name}: exit {block.status}")
        print(f"served openapi {served['info']['version']} at {served['servers'][0]['url']}")
        if found:
            print("\n".join(["README walk-through differs:", *found, "server log:", log[-3000:]]))
        return 1 if found else 0
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
