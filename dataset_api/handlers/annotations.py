"""Handlers for /annotations (operationIds annotations.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import ANNOTATIONS

search, get, post, patch, delete = handlers(ANNOTATIONS)


async def rpc(atomic=None):
    """POST /annotations/_rpc: JSON-RPC 2.0 over the raw body (parse errors are the protocol's)."""
    from connexion import request
    from starlette.concurrency import run_in_threadpool

    from dataset_api.jsonrpc import endpoint

    raw = await request.body()
    return await run_in_threadpool(endpoint.answer, raw, atomic in ("true", "1", "yes", "t"))
