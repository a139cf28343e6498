"""A live ``dataset-api serve`` for tests that need a real server: races, generated clients,
Schemathesis from outside, the browser. SQLite in the server's own data folder by default; a
dedicated PostgreSQL database when asked for one."""

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

PG_URL = os.environ.get("DATASET_API_TEST_DATABASE_URL", "")
SECRET = "live-" + secrets.token_hex(24)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dedicated_database():
    """Create ``live_<random>`` next to DATASET_API_TEST_DATABASE_URL; yield its URL; drop it."""
    import psycopg2

    base = urlparse(PG_URL)
    name = f"live_{secrets.token_hex(6)}"
    admin = psycopg2.connect(base._replace(path="/postgres").geturl())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield base._replace(path=f"/{name}").geturl()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class Server:
    """``dataset-api serve`` in a subprocess, with its own data folder, secret and database."""

    def __init__(self, data_dir, database_url="", workers=2, env=None):
        self.data_dir, self.database_url = Path(data_dir), database_url
        self.n_workers, self.extra_env = workers, dict(env or {})
        self.log_path = self.data_dir / "server.log"
        self.proc, self.port = None, None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts=3, timeout=60):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL")}
        env.update(DATASET_API_DATA_DIR=str(self.data_dir), DATASET_API_JWT_SECRET=SECRET)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        for _ in range(attempts):  # another process may take the free port before gunicorn binds it
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [Path(sys.executable).parent / "dataset-api", "serve", "--host", "127.0.0.1",
                     "--port", str(self.port), "--workers", str(self.n_workers)],
                    env=env, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout):
                return
            if "Address already in use" not in self.log():
                break
        self.stop()
        pytest.fail(f"dataset-api serve did not become ready:\n{self.log_tail()}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        return False

    def workers(self):
        """PIDs of the gunicorn workers (children of the master)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Terminate the master (it stops its workers), kill it if it lingers, then any orphan."""
        if self.proc is None:
            return
        workers = self.workers()
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in workers:
            try:
                if "dataset-api" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, 9)
            except OSError:
                pass  # already gone

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines=30):
        """The last lines of the log, without the access lines."""
        kept = [line for line in self.log().splitlines() if "dataset_api.access" not in line]
        return "\n".join(kept[-lines:])

    def error_lines(self):
        return [line for line in self.log().splitlines() if " ERROR " in line or "Traceback" in line]
