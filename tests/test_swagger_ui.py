"""Swagger UI as a person uses it, in headless Chromium: clients/checks/swagger-ui.mjs against a live
server (every tag and operation rendered, Authorize with a bearer token, POST /projects with the
filled-in example body answers 201). Skipped without node, npm or Chromium, except under CI."""

import os
import subprocess

import pytest

from dataset_api.auth import tokens
from tests.live import CHECKS, CHROMIUM, SECRET, Server, npm_ci_checks, require_browser, step

pytestmark = pytest.mark.browser

def test_swagger_ui_renders_authorizes_and_creates_a_project(tmp_path):
    require_browser()
    npm_ci_checks()
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
