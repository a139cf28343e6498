"""The README's walk-through as a reader pastes it (issue #20): the ```sh blocks of "A first
session", "Bulk import and export" and "Events and webhooks" run in one bash against a live
``dataset-api serve`` started in a fresh folder as the README says, and print what the README says
they print. tools/readme_session.py does the work; .ci/wheel-check runs it on the installed wheel."""

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from dataset_api import cli, spec

ROOT = Path(__file__).resolve().parent.parent
_module = importlib.util.spec_from_file_location("readme_session", ROOT / "tools" / "readme_session.py")
readme_session = importlib.util.module_from_spec(_module)
_module.loader.exec_module(readme_session)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """(folder, blocks run, server log, served /openapi.json) of one walk-through on this venv."""
    if os.environ.get("DATASET_API_TEST_DATABASE_URL"):
        pytest.skip("the README's serve runs on its SQLite default: the SQLite run walks it through")
    folder = tmp_path_factory.mktemp("readme")
    return folder, *readme_session.run(folder, Path(sys.executable).parent)


def test_every_block_runs_as_written(session):
    _, done, log, _ = session
    failed = {b.name: f"exit {b.status}: {b.stderr[-1500:]}" for b in done if b.status != 0}
    assert failed == {}, log[-2000:]


def test_each_block_prints_what_the_readme_says(session):
    folder, done, _, _ = session
    assert readme_session.problems(done, folder) == []


def test_the_server_log_holds_no_warning_or_error(session):
    """Not Starlette's warning about httpx and its test client, which connexion imports (cli.main
    filters it), nor the error a failed JSON-RPC call logs."""
    assert readme_session.log_problems(session[2]) == []


def test_the_log_check_sees_a_warning():
    log = ("/venv/connexion/apps/abstract.py:9: StarletteDeprecationWarning: Using `httpx` with …\n"
           "2026-12-07 04:58:08,133 INFO dataset_api.access {}\n"
           "2026-12-07 04:58:08,231 ERROR dataset_api.jsonrpc JSON-RPC method failed\n")
    assert len(readme_session.log_problems(log)) == 2


def test_the_served_document_is_the_spec(session):
    served = session[3]
    assert served["info"] == spec.document()["info"]
    assert served["paths"].keys() == spec.document()["paths"].keys()


def test_blocks_follow_the_readme():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = readme_session.blocks(text)
    assert {b.section for b in found} == set(readme_session.SECTIONS)
    assert [text.index(b.code) for b in found] == sorted(text.index(b.code) for b in found)
    with pytest.raises(ValueError, match="No such section"):
        readme_session.blocks(text, ["No such section"])


def _block(number, stdout, status=0):
    return readme_session.Block("A first session", number, "", status, stdout, "boom")


def test_the_checks_see_a_wrong_answer(tmp_path):
    """What the wheel answered before the spec was found through spec.PATH: update's -32603."""
    replies = [{"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "Internal error"}},
               {"jsonrpc": "2.0", "id": 2, "result": {"data": []}}]
    found = readme_session.problems([_block(2, json.dumps(replies) + "\n200\n")], tmp_path)
    assert found == ["A first session #2: JSON-RPC 1 failed: {'code': -32603, 'message': 'Internal error'}"]
    failed = readme_session.problems([_block(1, "", status=3)], tmp_path)
    assert failed == ["A first session #1: exit 3\nboom"]
    assert readme_session.problems([_block(9, "")], tmp_path) == [
        "A first session #9: no check of its output (tools/readme_session.py CHECKS)"]


def _commands():
    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices.items()


@pytest.mark.parametrize(("command", "options"), _commands(), ids=[name for name, _ in _commands()])
def test_every_command_option_has_help(command, options):
    """``dataset-api serve --help`` (and every other command's) says what it and each option do."""
    assert options.description
    assert [a.dest for a in options._actions if a.help is None] == []
