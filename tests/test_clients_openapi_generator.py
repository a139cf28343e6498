"""Clients of OpenAPI Generator 7.26.0 (``-g python``; ``-g java --library native``, compiled with
javac and run on the JVM), generated unpatched from a live server's /openapi.json, each driving the
README's first session through ``clients/run <generator>``.

Each test fails on a generator ERROR line or a warning that clients/openapi-generator/generate.py
does not explain, a generated module that does not import, a javac error, or a failed step of the
session. The generator lives in the clients' venv (``.venv-clients``, or
``$DATASET_API_CLIENTS_VENV``) made from clients/openapi-generator/requirements.txt; Java needs
javac and the Debian packages of clients/openapi-generator/debian-packages.txt. Without them the
tests are skipped, except under CI (``CI`` set), where they fail.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dataset_api.auth import tokens
from tests.live import SECRET, Server, step

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # generation (about 15 s), javac (about 10 s) and the session, with room for a slow CI
DEBIAN_JARS = ("/usr/share/java/jsr305.jar", "/usr/share/java/geronimo-annotation-1.3-spec.jar")


def missing(why):
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set, so this client must run)")
    pytest.skip(why)


def clients_venv():
    venv = Path(os.environ.get("DATASET_API_CLIENTS_VENV", ROOT / ".venv-clients"))
    if not (venv / "bin" / "openapi-generator-cli").is_file():
        missing(f"openapi-generator-cli is not installed in {venv}; make it with: python3 -m venv {venv} && "
                f"{venv}/bin/pip install -r clients/python/requirements.txt "
                "-r clients/openapi-generator/requirements.txt")
    if shutil.which("java") is None:
        missing("no java on PATH (apt-get install openjdk-17-jdk-headless)")
    return venv


def run_generator(name, tmp_path, venv):
    server = Server(tmp_path / "server", "", workers=1)
    (tmp_path / "server").mkdir()
    server.start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        token = tokens.issue(SECRET, account_id=1, email="admin@example.com", role="admin")
        env.update(DATASET_API_URL=server.url, DATASET_API_TOKEN=token, CLIENTS_VENV=str(venv),
                   CLIENTS_OUT_BASE=str(tmp_path / "out"))
        try:
            with step(f"clients/run {name}: generate, build, drive the first session"):
                proc = subprocess.run([str(ROOT / "clients" / "run"), name], cwd=ROOT, env=env,
                                      timeout=TIMEOUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"clients/run {name} did not finish in {TIMEOUT} s:\n{exc.stdout}")
    finally:
        server.stop()
    print(proc.stdout)
    assert proc.returncode == 0, (f"clients/run {name} exited {proc.returncode}:\n{proc.stdout}"
                                  f"\n--- server log (tail)\n{server.log_tail()}")
    assert not server.error_lines(), "the server logged errors:\n" + "\n".join(server.error_lines())


@pytest.mark.clients
def test_openapi_generator_python_client_drives_the_first_session(tmp_path):
    run_generator("openapi-generator-python", tmp_path, clients_venv())


@pytest.mark.clients
def test_openapi_generator_java_client_drives_the_first_session(tmp_path):
    venv = clients_venv()
    if shutil.which("javac") is None or shutil.which("jar") is None:
        missing("no javac/jar on PATH (apt-get install openjdk-17-jdk-headless)")
    absent = [jar for jar in DEBIAN_JARS if not Path(jar).is_file()]
    if absent:
        missing(f"{', '.join(absent)} missing: apt-get install "
                + " ".join((ROOT / "clients/openapi-generator/debian-packages.txt").read_text().split()))
    run_generator("openapi-generator-java", tmp_path, venv)
