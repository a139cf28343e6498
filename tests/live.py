"""A live ``dataset-api serve`` for tests that need a real server: races, generated clients,
Schemathesis from outside, the browser, faults. SQLite in the server's own data folder by default;
a dedicated PostgreSQL database when asked for one, or a private PostgreSQL cluster for tests that
stop and restart it."""

import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from dataset_api.auth import tokens

PG_URL = os.environ.get("DATASET_API_TEST_DATABASE_URL", "")
SECRET = "live-" + secrets.token_hex(24)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port):
    """True when ``port`` can be bound on 127.0.0.1 (nothing listens there any more)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def say(line):
    """Write ``line`` where the person running the tests sees it; tests/conftest.py replaces this
    with pytest's terminal reporter, since pytest captures the test's own stdout and stderr."""
    sys.__stderr__.write(line + "\n")
    sys.__stderr__.flush()


@contextmanager
def step(what, after=2.0):
    """Say what a long step is doing once it has run ``after`` seconds, then how long it took, so a
    quiet minute is not taken for a hang."""
    started, done = time.monotonic(), threading.Event()

    def announce():
        if not done.wait(after):
            say(f"[tests] {what} ...")
            done.wait()
            say(f"[tests] {what}: {time.monotonic() - started:.0f} s")

    watcher = threading.Thread(target=announce, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def wait_until(predicate, timeout, interval=0.1):
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


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


def is_delivery_worker(pid):
    """True when ``pid`` runs ``dataset-api worker`` (``python -m dataset_api worker``)."""
    try:
        return b"dataset_api\0worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Server:
    """``dataset-api serve`` in a subprocess, with its own data folder, secret and database."""

    def __init__(self, data_dir, database_url="", workers=2, env=None, args=()):
        self.data_dir, self.database_url, self.args = Path(data_dir), database_url, tuple(args)
        self.n_workers, self.extra_env = workers, dict(env or {})
        self.log_path = self.data_dir / "server.log"
        self.proc, self.port = None, None
        self.seen_workers = set()  # every worker PID seen, so stop() finds orphans of a killed master

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts=3, timeout=60, port=None):
        """Start serving and wait for /healthz; on ``port`` if given (no retry on another one)."""
        with step(f"starting a live dataset-api serve ({self.n_workers} workers) in {self.data_dir}"):
            self._start(attempts, timeout, port)

    def _start(self, attempts, timeout, port):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATASET_API_DATABASE_URL")}
        env.update(DATASET_API_DATA_DIR=str(self.data_dir), DATASET_API_JWT_SECRET=SECRET)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        for _ in range(1 if port else attempts):  # another process may take the free port first
            self.port = port or free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [Path(sys.executable).parent / "dataset-api", "serve", "--host", "127.0.0.1",
                     "--port", str(self.port), "--workers", str(self.n_workers), *self.args],
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

    def children(self):
        """PIDs of the master's children: its gunicorn workers and the event delivery worker."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        pids = [int(pid) for pid in children.split()]
        self.seen_workers.update(pids)
        return pids

    def workers(self):
        """PIDs of the gunicorn workers (the children but the delivery worker)."""
        return [pid for pid in self.children() if not is_delivery_worker(pid)]

    def delivery_worker(self):
        """PID of ``serve``'s event delivery worker, or None."""
        return next((pid for pid in self.children() if is_delivery_worker(pid)), None)

    def connections(self, pid):
        """How many client connections (established TCP on the server's port) process ``pid`` holds."""
        sockets = set()
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return 0
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                sockets.add(target[8:-1])
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()  # sl, local address:port (hex), remote, state (01: established), ..., inode
            if fields[3] == "01" and int(fields[1].split(":")[1], 16) == self.port and fields[9] in sockets:
                count += 1
        return count

    def wait_for_workers(self, timeout=30, replaced=()):
        """Wait until the master has its full set of live workers, none of them in ``replaced``;
        return their PIDs (fewer when the timeout passed first)."""
        def ready():
            pids = [pid for pid in self.workers() if alive(pid) and pid not in replaced]
            return pids if len(pids) == self.n_workers else None
        return wait_until(ready, timeout) or [p for p in self.workers() if p not in replaced]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Terminate the master (it stops its workers), kill it if it lingers, then any orphan."""
        if self.proc is None:
            return
        self.children()
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in self.seen_workers:
            try:
                if "dataset-api" in Path(f"/proc/{pid}/cmdline").read_text() or is_delivery_worker(pid):
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


PG_INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),  # oldest major version first
                   key=lambda path: [int(n) for n in Path(path).parents[1].name.split(".") if n.isdigit()])


class PrivatePostgres:
    """A PostgreSQL cluster of its own, for tests that stop or restart the database server: initdb
    in a temporary folder (trust auth), listening on 127.0.0.1 at a free port, its socket in that
    folder. Runs as the current user, or as ``postgres`` under root (initdb refuses root)."""

    def __init__(self):
        self.bin = Path(PG_INITDB[-1]).parent  # the newest installed major version
        self.dir = Path(tempfile.mkdtemp(prefix="dataset-api-pg-"))
        self.data, self.log_path, self.port = self.dir / "data", self.dir / "postgres.log", None
        self.as_owner = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program, *args, timeout=90):
        """Run one of the cluster's programs as its owner; raise with its output if it fails."""
        done = subprocess.run([*self.as_owner, str(self.bin / program), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{program} {' '.join(map(str, args))} -> {done.returncode}:\n"
                               f"{done.stdout}{done.stderr}\n{self.log_tail()}")
        return done

    def pg_ctl(self, *args):
        return self.run("pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "60", *args)

    def start(self, attempts=3):
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        for attempt in range(attempts):  # another process may take the free port first
            self.port = free_port()
            try:
                self.pg_ctl("start", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1")
                return self
            except RuntimeError:
                if attempt == attempts - 1:
                    raise

    def restart(self):
        """A fast restart (``pg_ctl restart -m fast``): every session is ended; waits until it is up."""
        self.pg_ctl("restart", "-m", "fast")

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            try:
                self.pg_ctl("stop", "-m", "immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def private_postgres():
    """Yield a started ``PrivatePostgres``; stop it and remove its folder afterwards."""
    cluster = PrivatePostgres()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


# --- clients that race one another ----------------------------------------------------------------

MEDIA = "application/vnd.api+json"
RACE_DEADLINE = 50  # seconds for one race, so a hung server fails the test instead of the run


class Client:
    """One account with its own token and keep-alive connection."""

    def __init__(self, server, account_id, role="user"):
        self.account_id = account_id
        token = tokens.issue(SECRET, account_id=account_id, email=f"u{account_id}@example.com", role=role)
        self.http = httpx.Client(base_url=server.url, timeout=30, headers={
            "Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA})

    def request(self, method, path, body=None):
        return self.http.request(method, path, json=body)

    def create(self, res, **attributes):
        """POST a ``res`` resource and return its resource object."""
        resp = self.request("POST", f"/{res}", {"data": {"type": f"dataset:{res}", "attributes": attributes}})
        assert resp.status_code == 201, f"POST /{res} -> {resp.status_code}: {resp.text[:500]}"
        return resp.json()["data"]

    def attributes(self, path):
        resp = self.request("GET", path)
        assert resp.status_code == 200, f"GET {path} -> {resp.status_code}: {resp.text[:500]}"
        return resp.json()["data"]["attributes"]

    def close(self):
        self.http.close()


def describe(client, method, path, resp):
    return f"account {client.account_id}: {method} {path} -> {resp.status_code} {resp.text[:300]}"


def summarize(problems, limit=10):
    """The most frequent problems, ids and accounts blanked out, with their counts."""
    kinds = Counter(re.sub(r"^account \d+: |[0-9a-f]{8}-[0-9a-f-]{27}", "", p) for p in problems)
    return "\n".join(f"{n} x {kind}" for kind, n in kinds.most_common(limit))


def race(clients, work):
    """Run ``work(client)`` in one thread per client, all released at once; return the results.

    Each client opens its connection just before the barrier, so the race starts on warm connections;
    opened earlier, a connection may sit idle past the server's keep-alive (gunicorn's ``keepalive``,
    2 s) and the server may close it at the instant the first request goes out (a reset, not a fault).
    """
    barrier = threading.Barrier(len(clients), timeout=RACE_DEADLINE)

    def run(client):
        assert client.request("GET", "/healthz").status_code == 200
        barrier.wait()
        return work(client)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(run, client) for client in clients]
        return [future.result(timeout=RACE_DEADLINE) for future in futures]


def drain(client, next_path, deadline, most):
    """``GET next_path`` then submit what it gave, until it answers 404 (sample rate 0: a submit
    completes the entry); return (ids claimed, problems). Stops past ``deadline`` (monotonic) or
    after ``most`` claims (more than the queue holds: something is handed out twice)."""
    claimed, problems = [], []
    while time.monotonic() < deadline:
        resp = client.request("GET", next_path)
        if resp.status_code == 404:
            return claimed, problems
        if resp.status_code != 200:
            problems.append(describe(client, "GET", next_path, resp))
            continue
        entry = resp.json()["data"]
        claimed.append(entry["id"])
        attrs = entry["attributes"]
        if (attrs["assigned_to_id"], attrs["status"]) != (client.account_id, "in_progress"):
            problems.append(f"account {client.account_id}: next gave {entry['id']} with "
                            f"assigned_to_id={attrs['assigned_to_id']}, status={attrs['status']}")
        submit = f"/entries/{entry['id']}/submit"
        resp = client.request("POST", submit, {"data": {"attributes": {}}})
        if resp.status_code != 200:
            problems.append(describe(client, "POST", submit, resp))
        elif resp.json()["data"]["attributes"]["status"] != "completed":
            problems.append(f"account {client.account_id}: {submit} left the entry "
                            f"{resp.json()['data']['attributes']}")
        if len(claimed) > most or len(problems) > 20:
            problems.append(f"account {client.account_id}: stopping after {len(claimed)} claims")
            return claimed, problems
    problems.append(f"account {client.account_id}: no 404 from next in time")
    return claimed, problems


def claimers(clients, results):
    """{entry id: {accounts}} from ``race(clients, drain…)``'s results."""
    owners = {}
    for client, (claimed, _) in zip(clients, results, strict=True):
        for entry_id in claimed:
            owners.setdefault(entry_id, set()).add(client.account_id)
    return owners


# --- headless Chromium (clients/checks) ----------------------------------------------------------

CHECKS = Path(__file__).resolve().parent.parent / "clients" / "checks"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def require_browser():
    """Skip (fail under CI) without node, npm and Chromium."""
    require_tools([("node", shutil.which("node")), ("npm", shutil.which("npm")),
                   (CHROMIUM, os.access(CHROMIUM, os.X_OK))])


def require_tools(tools):
    missing = [name for name, found in tools if not found]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install -y chromium; node and npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def npm_ci_checks():
    if (CHECKS / "node_modules" / "playwright-core").is_dir():
        return
    with step("npm ci in clients/checks (playwright-core)"):
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CHECKS, capture_output=True,
                              text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"npm ci failed in {CHECKS}:\n{done.stdout}\n{done.stderr}", pytrace=False)
