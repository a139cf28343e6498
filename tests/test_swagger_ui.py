"""Swagger UI as a person uses it, in headless Chromium: clients/checks/swagger-ui.mjs against a live
server (every tag and operation rendered, Authorize with a bearer token, POST /projects with the
filled-in example body answers 201). Skipped without node, npm or Chromium, except under CI."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server, step

pytestmark = pytest.mark.browser

CHECKS = Path(__file__).resolve().parent.parent / "clients" / "checks"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _require(tools):
    missing = [name for name, found in tools if not found]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install -y chromium; node and npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _npm_ci():
    if (CHECKS / "node_modules" / "playwright-core").is_dir():
        return
    with step("npm ci in clients/checks (playwright-core)"):
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CHECKS, capture_output=True,
                              text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"npm ci failed in {CHECKS}:\n{done.stdout}\n{done.stderr}", pytrace=False)


def test_swagger_ui_renders_authorizes_and_creates_a_project(tmp_path):
    _require([("node", shutil.which("node")), ("npm", shutil.which("npm")),
              (CHROMIUM, os.access(CHROMIUM, os.X_OK))])
    _npm_ci()
    server = Server(tmp_path, "", workers=1)
    server.start()
    try:
        token = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
        env = dict(os.environ, DATASET_API_URL=server.url, DATASET_API_TOKEN=token,
                   SCREENSHOT=os.environ.get("SCREENSHOT", str(tmp_path / "swagger-ui.png")))
        with step(f"Swagger UI in headless Chromium ({CHROMIUM})"):
            done = subprocess.run(["node", "swagger-ui.mjs"], cwd=CHECKS, env=env, capture_output=True,
                                  text=True, timeout=300)
    finally:
        server.stop()
    if done.returncode:
        pytest.fail(f"node swagger-ui.mjs exited {done.returncode}\n{done.stdout}\n{done.stderr}\n"
                    f"server log:\n{server.log_tail()}", pytrace=False)
