"""The process tree survives its supervisor (issue #10): when the gunicorn master is killed with
SIGKILL, its workers exit too and free the port, so a supervisor can start ``serve`` again."""

import os
import signal
import socket
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.live import PG_URL, Server, dedicated_database


def _alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_workers_exit_when_the_master_is_killed(tmp_path):
    database = dedicated_database() if PG_URL else nullcontext("")
    with database as url, Server(tmp_path, url, workers=2) as server:
        workers = server.workers()
        assert len(workers) == 2 and all(_alive(pid) for pid in workers), workers
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their master"
        while not _port_free(server.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _port_free(server.port), f"port {server.port} still taken after the master died"
