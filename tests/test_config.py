"""Settings are per app: two apps in one process, built from different configurations, each keep
their own token keys and JSON-RPC batch limit (nothing is left in module globals)."""

import dataclasses
import json

from dataset_api.app import create_app
from dataset_api.auth import tokens
from dataset_api.db import db
from tests.conftest import make_config, reset_database

MISSING = "00000000-0000-0000-0000-000000000000"


def shows(count):
    """A batch of ``count`` show calls (each of a missing annotation: -32004, never a write)."""
    return json.dumps([{"jsonrpc": "2.0", "method": "show", "params": {"id": MISSING}, "id": i}
                       for i in range(count)])


def rpc(client, secret, count):
    """POST a batch of ``count`` calls with a token signed by ``secret``; return the response."""
    bearer = tokens.issue(secret, account_id=1, email="admin@example.com", role="admin")
    return client.post("/annotations/_rpc", content=shows(count),
                       headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"})


def test_two_apps_keep_their_own_settings(tmp_path):
    base = make_config(tmp_path)  # one database: the process-wide binding is all they share
    reset_database(base)
    first = dataclasses.replace(base, jwt_secret="first-" + "a" * 40, rpc_batch_limit=3)
    second = dataclasses.replace(base, jwt_secret="second-" + "b" * 40, rpc_batch_limit=5)
    try:
        # both built before either serves: building the second must not re-point the first
        with create_app(first).test_client() as one, create_app(second).test_client() as two:
            for client, config, other in ((one, first, second), (two, second, first)):
                limit = config.rpc_batch_limit
                reply = rpc(client, config.jwt_secret, limit).json()
                assert [r["error"]["code"] for r in reply] == [-32004] * limit
                over = rpc(client, config.jwt_secret, limit + 1)
                assert over.status_code == 400 and over.json()["error"]["data"] == {"batch_limit": limit}
                refused = rpc(client, other.jwt_secret, 1)
                assert refused.status_code == 401 and refused.json()["error"]["code"] == -32001
    finally:
        db.obj.close_all()
