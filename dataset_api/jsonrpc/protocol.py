"""The JSON-RPC 2.0 envelope, to the letter of the specification: single calls, batches,
notifications, parse errors and invalid requests. Pure: methods and transactions come in."""

import inspect
import json
from contextlib import nullcontext

from dataset_api.jsonapi.values import BadText, loads

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700, -32600, -32601, -32602, -32603)
ROLLED_BACK = -32000
MESSAGES = {PARSE_ERROR: "Parse error", INVALID_REQUEST: "Invalid Request",
            METHOD_NOT_FOUND: "Method not found", INVALID_PARAMS: "Invalid params",
            INTERNAL: "Internal error", ROLLED_BACK: "batch rolled back",
            -32001: "Not authenticated", -32003: "Forbidden", -32004: "Not found",
            -32009: "Conflict"}


class RpcError(Exception):
    """An error reply: ``code``, the specification's ``message``, optional ``data``."""

    def __init__(self, code, data=None, message=None):
        super().__init__(message or MESSAGES.get(code, "Server error"))
        self.code, self.data = code, data
        self.message = message or MESSAGES.get(code, "Server error")

    def reply(self, call_id):
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "error": error, "id": call_id}


class _Abort(Exception):
    """Leaves the atomic batch's transaction so that it rolls back."""


def _valid_id(call):
    return "id" not in call or (call["id"] is None or isinstance(call["id"], (str, int, float))
                                and not isinstance(call["id"], bool))


def check(call):
    """Raise ``RpcError(-32600)`` unless ``call`` is a well-formed request object."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not _valid_id(call) \
            or not isinstance(call.get("method"), str) \
            or ("params" in call and not isinstance(call["params"], (dict, list))):
        raise RpcError(INVALID_REQUEST)


def reply_id(call):
    """The id to answer with: the call's id when it could be read, else null."""
    return call.get("id") if isinstance(call, dict) and _valid_id(call) else None


def invoke(call, methods, translate):
    """Run one checked call; return its result. ``translate`` maps domain errors to RpcError."""
    method = methods.get(call["method"])  # "rpc." names are reserved: never in the table
    if method is None:
        raise RpcError(METHOD_NOT_FOUND, {"method": call["method"]})
    params = call.get("params", {})
    if isinstance(params, list):
        raise RpcError(INVALID_PARAMS, {"errors": [{"detail": "params must be named (an object)."}]})
    errors = param_errors(method, params)
    if errors:
        raise RpcError(INVALID_PARAMS, {"errors": errors})
    try:
        return method(**params)
    except RpcError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reply, never a 500
        raise translate(exc) from exc


def param_errors(method, params):
    """List unknown and missing named parameters of ``method``."""
    signature = inspect.signature(method).parameters
    errors = [{"pointer": f"/params/{n}", "detail": f"Unknown parameter '{n}'."}
              for n in sorted(set(params) - set(signature))]
    errors += [{"pointer": f"/params/{n}", "detail": f"'{n}' is required."}
               for n, p in signature.items() if p.default is p.empty and n not in params]
    return errors


def handle(raw, methods, *, translate, transaction, savepoint, atomic=False, batch_limit=100):
    """Answer the request body ``raw`` (bytes); return (http_status, reply or None).

    ``transaction()`` and ``savepoint()`` are context managers from the storage layer.
    """
    try:
        body = loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except BadText:  # well-formed JSON: the method's params check reports where
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return 400, RpcError(PARSE_ERROR).reply(None)
    if isinstance(body, list):
        if not body:
            return 400, RpcError(INVALID_REQUEST).reply(None)
        if len(body) > batch_limit:
            return 400, RpcError(INVALID_REQUEST, {"batch_limit": batch_limit}).reply(None)
        replies = _run(body, methods, translate, transaction, savepoint, atomic)
        return (200, replies) if replies else (204, None)
    try:
        check(body)
    except RpcError as exc:
        return 400, exc.reply(reply_id(body))
    replies = _run([body], methods, translate, transaction, savepoint, atomic)
    return (200, replies[0]) if replies else (204, None)


def _run(calls, methods, translate, transaction, savepoint, atomic):
    """Run calls in one transaction: each alone in a savepoint, or all or nothing (atomic)."""
    replies, failed = [], None
    try:
        with transaction():
            for i, call in enumerate(calls):
                reply = _one(call, methods, translate, nullcontext if atomic else savepoint)
                replies.append(reply)
                if atomic and "error" in reply:
                    failed = i
                    raise _Abort
    except _Abort:
        # nothing was written: the failing call keeps its error, every other call learns why
        replies = [replies[i] if i == failed else RpcError(ROLLED_BACK).reply(reply_id(call))
                   for i, call in enumerate(calls)]
    return [reply for call, reply in zip(calls, replies, strict=True) if _wants_reply(call)]


def _one(call, methods, translate, isolation):
    try:
        check(call)
        with isolation():  # a savepoint: a failing call leaves the others' writes alone
            result = invoke(call, methods, translate)
        return {"jsonrpc": "2.0", "result": result, "id": call.get("id")}
    except RpcError as exc:
        return exc.reply(reply_id(call))


def _wants_reply(call):
    """Everything but a notification (a valid request without an id) gets a reply."""
    try:
        check(call)
    except RpcError:
        return True
    return "id" in call
