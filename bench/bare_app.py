"""The baseline for bench/api.py: a bare Starlette app doing the service's show lookup, nothing else.

GET /entries/{id} reads one entry by primary key through Peewee on the database in DATABASE_URL
(the same pooled database and model as the service) and returns its columns as JSON. Like the
service's handlers, the endpoint is synchronous, so Starlette runs it in its thread pool.

    DATABASE_URL=... gunicorn -k uvicorn_worker.UvicornWorker -w 2 --no-control-socket \
        --bind 127.0.0.1:8001 bench.bare_app:app
"""

import os

from playhouse.shortcuts import model_to_dict
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from dataset_api.db import bind, db
from dataset_api.models import Entry

bind(os.environ["DATABASE_URL"])


def show(request):
    with db.connection_context():
        row = Entry.get_or_none(Entry.id == request.path_params["entry_id"])
    if row is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    data = model_to_dict(row, recurse=False)
    for key in ("created_at", "updated_at"):
        data[key] = data[key].isoformat() + "Z"
    return JSONResponse(data)


app = Starlette(routes=[Route("/entries/{entry_id}", show)])
