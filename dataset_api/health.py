"""GET /healthz: the service is up and its database answers."""

from dataset_api.db import db


def get_health():
    db.execute_sql("SELECT 1")
    return {"status": "ok"}, 200, {"Content-Type": "application/json"}
