"""HTTP handlers of the import and export routes. The body of an import is copied to a
temporary file as it arrives (never held in memory), then checked and written in a worker thread,
on a pooled database connection; an export is read and encoded in a thread of its own, which
feeds the streamed response (``exporter``)."""

import tempfile

from connexion import request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from dataset_api.crud import current_user, query_pairs
from dataset_api.db import db
from dataset_api.errors import MEDIA_TYPE, ApiError
from dataset_api.transfer import exporter, importer

SPOOL_IN_MEMORY = 1024 * 1024  # an upload this small stays in memory; a larger one goes to disk


def _import_kind():
    return "csv" if request.headers.get("content-type", "").lower().startswith("text/csv") else "ndjson"


def _authorize(dataset_id, user):
    with db.connection_context():
        importer.authorize(dataset_id, user)


def _run(dataset_id, user, raw, kind, on_conflict, partial):
    """Check and spool the upload ``raw``, then write it; return the response triple."""
    outcome, size = importer.Outcome(), raw.seek(0, 2)
    raw.seek(0)
    box = importer.spool(raw, kind, outcome, in_memory=size <= SPOOL_IN_MEMORY)
    try:
        with db.connection_context():
            written = importer.write(dataset_id, user, box, on_conflict, partial, outcome)
    finally:
        box.close()
    headers = {"Content-Type": MEDIA_TYPE}
    if not written:
        return {"errors": outcome.errors, "meta": {"error_count": outcome.error_count}}, 422, headers
    meta = outcome.counts()
    if partial:
        meta.update(errors=outcome.errors, error_count=outcome.error_count)
    return {"meta": meta}, 200, headers


async def import_dataset_entries(id, on_conflict="error", partial=False):
    """``POST /datasets/{id}/import``: 403/404 before the upload is read, then the import."""
    user, kind = current_user(), _import_kind()
    await run_in_threadpool(_authorize, id, user)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as raw:
        try:
            async for chunk in request.stream():
                raw.write(chunk)
        except ClientDisconnect:  # nothing was written: the upload is read whole first
            raise ApiError("The client went away before the body was sent.", status=400) from None
        return await run_in_threadpool(_run, id, user, raw, kind, on_conflict, partial)


async def export_dataset_entries(id, format=None, as_of=None):
    """``GET /datasets/{id}/export``: 400/404/406 as JSON:API errors, then the export, streamed
    (``as_of``: the annotations as they were then)."""
    export = exporter.Export(id, query_pairs(), format, request.headers.get("accept"), as_of)
    return await exporter.respond(export)
