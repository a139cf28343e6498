"""The JSON-RPC 2.0 envelope, to the letter of the specification: single calls, batches,
notifications, parse errors and invalid requests. Pure: methods and transactions come in."""

import inspect
import json
from collections.abc import Callable
from contextlib import nullcontext
from functools import cache
from typing import NamedTuple

from dataset_api.jsonapi.values import BadText, loads

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700, -32600, -32601, -32602, -32603)
ROLLED_BACK = -32000
MESSAGES = {PARSE_ERROR: "Parse error", INVALID_REQUEST: "Invalid Request",
            METHOD_NOT_FOUND: "Method not found", INVALID_PARAMS: "Invalid params",
            INTERNAL: "Internal error", ROLLED_BACK: "batch rolled back",
            -32001: "Not authenticated", -32003: "Forbidden", -32004: "Not found",
            -32005: "Service unavailable", -32009: "Conflict"}


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


class Bulk(NamedTuple):
    """The set-based form of a method, for runs of its calls inside one batch.

    ``prepare([params])`` returns, per call, what to write or the exception the call fails with;
    ``write([prepared])`` stores them at once and returns their results, or raises when the
    database refuses the set (each call then runs alone, to meet its own error).
    """

    prepare: Callable
    write: Callable


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


def _never(exc):
    return None


def invoke(call, methods, translate, fatal=_never):
    """Run one checked call; return its result. ``translate`` maps domain errors to RpcError;
    an error ``fatal`` recognises (the database is out of reach) ends the whole request."""
    method = methods.get(call["method"])  # "rpc." names are reserved: never in the table
    if method is None:
        raise RpcError(METHOD_NOT_FOUND, {"method": call["method"]})
    params = named_params(call, method)
    try:
        return method(**params)
    except RpcError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reply, never a 500
        if fatal(exc) is not None:
            raise
        raise translate(exc) from exc


def named_params(call, method):
    """Return the call's params; raise ``RpcError(-32602)`` unless ``method`` takes them."""
    params = call.get("params", {})
    if isinstance(params, list):
        raise RpcError(INVALID_PARAMS, {"errors": [{"detail": "params must be named (an object)."}]})
    errors = param_errors(method, params)
    if errors:
        raise RpcError(INVALID_PARAMS, {"errors": errors})
    return params


def param_errors(method, params):
    """List unknown and missing named parameters of ``method``."""
    names, required = _parameters(method)
    errors = [{"pointer": f"/params/{n}", "detail": f"Unknown parameter '{n}'."}
              for n in sorted(set(params) - names)]
    errors += [{"pointer": f"/params/{n}", "detail": f"'{n}' is required."}
               for n in required if n not in params]
    return errors


@cache
def _parameters(method):
    """The names ``method`` takes and, in order, those without a default."""
    signature = inspect.signature(method).parameters
    return frozenset(signature), tuple(n for n, p in signature.items() if p.default is p.empty)


BATCH_ONLY = "A batch is an array of calls; send a single call to POST /annotations/_rpc."


def handle(raw, methods, *, translate, transaction, savepoint, atomic=False, batch_limit=100,
           bulk=None, reads=frozenset(), fatal=_never, on_batch=None, batch_only=False):
    """Answer the request body ``raw`` (bytes); return (http_status, reply or None).

    ``transaction(read_only)`` and ``savepoint()`` are context managers from the storage layer
    (``read_only``: every call names one of the methods in ``reads``); ``bulk`` maps method names
    to their ``Bulk`` form, used for runs of two or more calls in a batch; ``on_batch(size)`` is
    told the number of calls of each batch, refused ones included (the metrics). An exception
    for which ``fatal(exc)`` returns an RpcError (the database is out of reach) is no call's error
    but the whole request's: the transaction rolls back, every call that wants a reply gets that
    error under its own id, and the status is 503 (send the request again). With ``batch_only``
    anything but an array is an invalid request (400).
    """
    run = _Runner(methods, bulk or {}, translate, transaction, savepoint, atomic, reads, fatal)
    try:
        body = loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except BadText:  # well-formed JSON: the method's params check reports where
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return 400, RpcError(PARSE_ERROR).reply(None)
    if isinstance(body, list):
        if on_batch is not None:
            on_batch(len(body))
        if not body:
            return 400, RpcError(INVALID_REQUEST).reply(None)
        if len(body) > batch_limit:
            return 400, RpcError(INVALID_REQUEST, {"batch_limit": batch_limit}).reply(None)
        return _answer(run, body, fatal, batch=True)
    if batch_only:
        return 400, RpcError(INVALID_REQUEST, {"detail": BATCH_ONLY}).reply(None)
    try:
        check(body)
    except RpcError as exc:
        return 400, exc.reply(reply_id(body))
    return _answer(run, [body], fatal, batch=False)


def _answer(run, calls, fatal, batch):
    status = 200
    try:
        replies = run(calls)
    except Exception as exc:
        error = fatal(exc)
        if error is None:
            raise
        status = 503  # the whole request failed, nothing of it was written
        replies = [error.reply(reply_id(call)) for call in calls if _wants_reply(call)] \
            or [error.reply(None)]  # notifications alone: still say why
    if not replies:
        return 204, None
    return status, replies if batch else replies[0]


class _Runner:
    """Runs calls in one transaction: each alone in a savepoint, or all or nothing (atomic)."""

    def __init__(self, methods, bulk, translate, transaction, savepoint, atomic, reads, fatal):
        self.methods, self.bulk, self.translate, self.reads = methods, bulk, translate, reads
        self.fatal = fatal
        self.transaction, self.savepoint, self.atomic = transaction, savepoint, atomic
        self.isolation = nullcontext if atomic else savepoint  # a failing call leaves the others be

    def __call__(self, calls):
        replies = []
        try:
            read_only = all(isinstance(call, dict) and call.get("method") in self.reads for call in calls)
            with self.transaction(read_only):
                for group in runs(calls, self.bulk):
                    for reply in self._group(group):
                        replies.append(reply)
                        if self.atomic and "error" in reply:
                            raise _Abort
        except _Abort:
            # nothing was written: the failing call keeps its error, every other call learns why
            failed = len(replies) - 1
            replies = [replies[i] if i == failed else RpcError(ROLLED_BACK).reply(reply_id(call))
                       for i, call in enumerate(calls)]
        return [reply for call, reply in zip(calls, replies, strict=True) if _wants_reply(call)]

    def _group(self, calls):
        replies = self._set(calls) if len(calls) > 1 else None
        return replies if replies is not None else (self._one(call) for call in calls)

    def _one(self, call):
        try:
            check(call)
            with self.isolation():
                result = invoke(call, self.methods, self.translate, self.fatal)
            return _result(call, result)
        except RpcError as exc:
            return exc.reply(reply_id(call))

    def _set(self, calls):
        """Replies to a run of calls of one method, written at once; None if the database refused
        (say, a duplicate id): the calls then run one by one, each meeting its own error."""
        bulk, method = self.bulk[calls[0]["method"]], self.methods[calls[0]["method"]]
        outcomes = [_attempt(named_params, call, method) for call in calls]
        try:
            with self.savepoint():
                todo = [i for i, outcome in enumerate(outcomes) if not isinstance(outcome, Exception)]
                for i, prepared in zip(todo, bulk.prepare([outcomes[i] for i in todo]), strict=True):
                    if isinstance(prepared, Exception) and self.fatal(prepared) is not None:
                        raise prepared
                    outcomes[i] = prepared
                if self.atomic:  # the calls after the first failure never run
                    outcomes = _through_first_failure(outcomes)
                ready = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
                results = iter(bulk.write(ready) if ready else ())
        except Exception as exc:  # noqa: BLE001 - the one-by-one path reports every failure
            if self.fatal(exc) is not None:
                raise
            return None
        return [self._error(outcome).reply(reply_id(call)) if isinstance(outcome, Exception)
                else _result(call, next(results))
                for call, outcome in zip(calls[:len(outcomes)], outcomes, strict=True)]

    def _error(self, exc):
        return exc if isinstance(exc, RpcError) else self.translate(exc)


def _attempt(function, *args):
    try:
        return function(*args)
    except RpcError as exc:
        return exc


def _through_first_failure(outcomes):
    failed = next((i for i, outcome in enumerate(outcomes) if isinstance(outcome, Exception)), None)
    return outcomes if failed is None else outcomes[:failed + 1]


def runs(calls, bulk):
    """Split ``calls`` into lists: runs of well-formed calls of one method that has a ``bulk``
    form, and single calls for everything else; in order."""
    group = []
    for call in calls:
        name = _bulk_name(call, bulk)
        if group and name != group[0]["method"]:
            yield group
            group = []
        if name is None:
            yield [call]
        else:
            group.append(call)
    if group:
        yield group


def _bulk_name(call, bulk):
    try:
        check(call)
    except RpcError:
        return None
    return call["method"] if call["method"] in bulk else None


def _result(call, result):
    return {"jsonrpc": "2.0", "result": result, "id": call.get("id")}


def _wants_reply(call):
    """Everything but a notification (a valid request without an id) gets a reply."""
    try:
        check(call)
    except RpcError:
        return True
    return "id" in call
