"""Generated TypeScript clients, unpatched, against a live ``dataset-api serve``.

``clients/typescript`` generates two clients from the running server's ``/openapi.json``
(@hey-api/openapi-ts's SDK; openapi-typescript's types for openapi-fetch), type-checks them with
``tsc --strict`` together with two drivers (including ``@ts-expect-error`` lines for requests the
server refuses, so a loose schema fails the check), then runs both drivers through the README's
first session. Needs node and npm; without them the test is skipped, unless ``CI`` is set.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server, step

CLIENTS_DIR = Path(__file__).resolve().parent.parent / "clients" / "typescript"
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


@pytest.mark.clients
def test_generated_typescript_clients_drive_the_first_session(tmp_path):
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so the TypeScript clients must run)")
        pytest.skip(message)

    env = {k: v for k, v in os.environ.items() if k not in ("DATASET_API_URL", "DATASET_API_TOKEN")}
    if not (CLIENTS_DIR / "node_modules").is_dir():
        result = _npm(["ci", "--no-audit", "--no-fund"], env, NPM_CI_TIMEOUT)
        assert result.returncode == 0, f"npm ci failed ({result.returncode}):\n{result.stdout}"

    server = Server(tmp_path, "", workers=1)
    server.start()
    try:
        env.update(DATASET_API_URL=server.url, DATASET_API_TOKEN=tokens.issue(
            SECRET, account_id=1, email="admin@example.com", role="admin"))
        result = _npm(["run", "e2e"], env, E2E_TIMEOUT)
        assert result.returncode == 0, (
            f"npm run e2e failed ({result.returncode}):\n{result.stdout}\n"
            f"--- server log (tail) ---\n{server.log_tail()}")
        assert not server.error_lines(), "server errors:\n" + "\n".join(server.error_lines())
    finally:
        server.stop()
