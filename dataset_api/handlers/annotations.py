"""Handlers for /annotations (listAnnotations, get/create/update/deleteAnnotation)."""

from dataset_api.crud import handlers
from dataset_api.resources import ANNOTATIONS

(list_annotations,
 get_annotation,
 create_annotation, update_annotation, delete_annotation) = handlers(ANNOTATIONS)


async def call_annotations_rpc(atomic=None):
    """POST /annotations/_rpc: JSON-RPC 2.0 over the raw body (parse errors are the protocol's)."""
    from connexion import request
    from starlette.concurrency import run_in_threadpool

    from dataset_api.jsonrpc import endpoint

    raw = await request.body()
    return await run_in_threadpool(endpoint.answer, raw, atomic in ("true", "1", "yes", "t"))
