"""Generated TypeScript clients, unpatched, against a live ``dataset-api serve``.

``clients/typescript`` generates clients from the running server's ``/openapi.json``
(@hey-api/openapi-ts's SDK; openapi-typescript's types for openapi-fetch; OpenAPI Generator's
typescript-fetch; orval's fetch client), type-checks each with ``tsc --strict`` together with its
driver (including ``@ts-expect-error`` lines for requests the server refuses, so a loose schema
fails the check), then runs the drivers through the README's first session. The first two run in
one ``npm run e2e``; OpenAPI Generator and orval each in their own (``npm run e2e:oag``,
``npm run e2e:orval``), so a generator that fails on the spec fails only its own test. Needs node
and npm, and for OpenAPI Generator its ``openapi-generator-cli`` (PyPI, clients/openapi-generator/
requirements.txt) in the clients venv (``.venv-clients`` or ``$DATASET_API_CLIENTS_VENV``) and
java; without them a test is skipped, unless ``CI`` is set.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server, step

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_DIR = ROOT / "clients" / "typescript"
NPM_CI_TIMEOUT = 600
E2E_TIMEOUT = 600


def _npm(args, env, timeout):
    try:
        with step(f"npm {' '.join(args)} in {CLIENTS_DIR.relative_to(CLIENTS_DIR.parents[1])}"):
            return subprocess.run(["npm", *args], cwd=CLIENTS_DIR, env=env, timeout=timeout,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"npm {' '.join(args)} did not finish in {timeout} s:\n{out}")


def _missing(why):
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set, so the TypeScript clients must run)")
    pytest.skip(why)


def _npm_env():
    """The environment for npm, after `npm ci` when node_modules is not there yet."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        _missing(f"{' and '.join(missing)} not on PATH")
    env = {k: v for k, v in os.environ.items() if k not in ("DATASET_API_URL", "DATASET_API_TOKEN")}
    if not (CLIENTS_DIR / "node_modules").is_dir():
        result = _npm(["ci", "--no-audit", "--no-fund"], env, NPM_CI_TIMEOUT)
        assert result.returncode == 0, f"npm ci failed ({result.returncode}):\n{result.stdout}"
    return env


def _drive(tmp_path, env, script):
    """`npm run <script>` against a live server of its own, as the admin."""
    server = Server(tmp_path, "", workers=1)
    server.start()
    try:
        env.update(DATASET_API_URL=server.url, DATASET_API_TOKEN=tokens.issue(
            SECRET, account_id=1, email="admin@example.com", role="admin"))
        result = _npm(["run", script], env, E2E_TIMEOUT)
        assert result.returncode == 0, (
            f"npm run {script} failed ({result.returncode}):\n{result.stdout}\n"
            f"--- server log (tail) ---\n{server.log_tail()}")
        assert not server.error_lines(), "server errors:\n" + "\n".join(server.error_lines())
    finally:
        server.stop()


@pytest.mark.clients
def test_generated_typescript_clients_drive_the_first_session(tmp_path):
    _drive(tmp_path, _npm_env(), "e2e")


@pytest.mark.clients
def test_openapi_generator_typescript_fetch_client_drives_the_first_session(tmp_path):
    env = _npm_env()
    venv = Path(os.environ.get("DATASET_API_CLIENTS_VENV", ROOT / ".venv-clients"))
    if not (venv / "bin" / "openapi-generator-cli").is_file():
        _missing(f"openapi-generator-cli is not installed in {venv}; make it with: python3 -m venv {venv} && "
                 f"{venv}/bin/pip install -r clients/openapi-generator/requirements.txt")
    if shutil.which("java") is None:
        _missing("java not on PATH (OpenAPI Generator is a Java program)")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    _drive(tmp_path, env, "e2e:oag")


@pytest.mark.clients
def test_orval_fetch_client_drives_the_first_session(tmp_path):
    _drive(tmp_path, _npm_env(), "e2e:orval")
