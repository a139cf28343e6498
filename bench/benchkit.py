"""Pieces the benchmarks share: a cheap keep-alive HTTP client, the scan of server logs for
errors, and scratch PostgreSQL databases created and dropped around a run."""

import asyncio
import re
from pathlib import Path
from urllib.parse import urlparse


class Connection:
    """A minimal keep-alive HTTP/1.1 client to 127.0.0.1. httpx.AsyncClient spent ~1.7 ms of CPU per
    request on this machine and capped the load at ~500 req/s; this one spends ~0.05 ms."""

    def __init__(self, port, headers):
        self.port, self.reader, self.writer = port, None, None
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"127.0.0.1:{port}", **headers}.items())

    async def request(self, method, path, body=b""):
        """Send one request; return (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        if "\r\ntransfer-encoding: chunked" in head:
            data = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            length = re.search(r"\r\ncontent-length: *(\d+)", head)
            data = await self.reader.readexactly(int(length.group(1)) if length else 0)
        return int(head[9:12]), data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def machine(url):
    """The machine and database a run measured (``url``: PostgreSQL's, or empty for SQLite)."""
    import os
    import platform
    import sqlite3

    version = f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL)"
    if url:
        import psycopg2

        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("select version()")
            version = cur.fetchone()[0].split(" on ")[0]
        conn.close()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": f"{os.cpu_count()} cores ({cpu})",
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": version,
    }


def log_problems(paths):
    """Return the distinct error lines (and 5xx access-log lines) the servers logged."""
    found = {}
    for path in paths:
        for line in Path(path).read_text(errors="replace").splitlines():
            if re.search(r"\bERROR\b|Traceback|\"status\": 5\d\d", line):
                key = re.sub(r"\d+(\.\d+)?|[0-9a-f-]{36}", "#", line)[-160:]
                found.setdefault(key, [0, line[:300]])[0] += 1
    return [f"{count}x {line}" for count, line in found.values()]


def _admin(admin_url, statement):
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def create_pg_database(admin_url, name):
    """Create database ``name`` on the server of ``admin_url``; return its URL."""
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    return urlparse(admin_url)._replace(path=f"/{name}").geturl()


def drop_pg_database(admin_url, name):
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ScratchDatabase:
    """An empty database for one run. SQLite: the server's default file in ``data_dir`` (gone with
    the folder). PostgreSQL: ``<prefix>_<random>``, created through ``admin_url`` and dropped by
    ``drop()``. ``server_url`` is what a server's DATABASE_URL should be ("" on SQLite: its default)."""

    def __init__(self, kind, data_dir, prefix, admin_url):
        import secrets

        self.admin_url, self.name = admin_url, None
        if kind == "postgresql":
            self.name = f"{prefix}_{secrets.token_hex(4)}"
            self.url = create_pg_database(admin_url, self.name)
        else:
            self.url = f"sqlite:///{data_dir}/dataset-api.db"

    @property
    def server_url(self):
        return self.url if self.name else ""

    def drop(self):
        if self.name:
            drop_pg_database(self.admin_url, self.name)
            self.name = None


class Server:
    """``dataset-api serve`` started for a benchmark: its own data folder, secret and (when given)
    database; stopped by its PID. ``rss()`` reads the memory of the master and its workers."""

    def __init__(self, data_dir, database_url="", workers=2, env=None, args=(), program=None):
        import secrets

        self.data_dir, self.database_url, self.workers = data_dir, database_url, workers
        self.program = program  # another installation's ``dataset-api`` (a release to compare with)
        self.env, self.args = dict(env or {}), list(args)
        self.secret = secrets.token_urlsafe(48)
        self.log_path = Path(data_dir) / "server.log"
        self.proc, self.port = None, None

    def start(self, timeout=60):
        import http.client
        import os
        import socket
        import subprocess
        import sys
        import time

        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL") and not k.startswith("DATASET_API_")
        }
        env.update(DATASET_API_DATA_DIR=str(self.data_dir), DATASET_API_JWT_SECRET=self.secret, **self.env)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    self.program or Path(sys.executable).parent / "dataset-api",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    *self.args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                ready = conn.getresponse().status == 200
                conn.close()
                if ready and len(self.pids()) > self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"server not ready after {timeout}s")

    def token(self, **claims):
        from dataset_api.auth import tokens

        return tokens.issue(
            self.secret, **{"account_id": 1, "email": "bench@example.com", "role": "admin", **claims}
        )

    def pids(self):
        """The master's PID and its workers'."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.proc.pid, *map(int, children)]

    def rss(self):
        """{pid: resident set size in bytes} of the master and its workers."""
        sizes = {}
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            sizes[pid] = kb * 1024
        return sizes

    def stop(self):
        import os
        import signal
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class PeakRss:
    """Samples a server's memory every ``interval`` seconds in a thread, while in its ``with``:
    the peak resident size of each process, and of the largest one."""

    def __init__(self, server, interval=0.1):
        import threading

        self.server, self.interval = server, interval
        self.baseline = server.rss()
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(self.interval):
            for pid, size in self.server.rss().items():
                self.peak[pid] = max(self.peak.get(pid, 0), size)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def largest(self):
        """(peak bytes, growth over its size before) of the process that grew most."""
        pid = max(self.peak, key=lambda p: self.peak[p] - self.baseline.get(p, self.peak[p]))
        return self.peak[pid], self.peak[pid] - self.baseline.get(pid, self.peak[pid])


def footer(ordered, logs, rerun):
    """The closing lines of a benchmark's section: each run's machine and load, the error lines its
    ``logs`` (a phrase: "server logs") held, and how to run it again (``rerun``, markdown)."""
    out = ["", "Set-up:", ""]
    for r in ordered:
        m = r["machine"]
        out.append(
            f"- {r['db']}, {r['date']}: {m['cpu']}; {m['os']}; Python {m['python']}; {m['database']}; "
            f"load average {r['loadavg'][0]:.1f} before, {r['loadavg'][1]:.1f} after"
        )
    problems = [f"- {r['db']}: {p}" for r in ordered for p in r["log_problems"]]
    return [*out, "", f"Error lines in the {logs}: " + ("none." if not problems else ""), *problems, "",
            rerun, ""]

