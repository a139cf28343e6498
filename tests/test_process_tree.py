"""The process tree survives its supervisor (issue #10): when the gunicorn master is killed with
SIGKILL, its workers exit too and free the port, so a supervisor can start ``serve`` again."""

import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.live import PG_URL, Server, alive, dedicated_database, port_free


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_workers_exit_when_the_master_is_killed(tmp_path):
    database = dedicated_database() if PG_URL else nullcontext("")
    with database as url, Server(tmp_path, url, workers=2) as server:
        workers = server.workers()
        assert len(workers) == 2 and all(alive(pid) for pid in workers), workers
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their master"
        while not port_free(server.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_free(server.port), f"port {server.port} still taken after the master died"
