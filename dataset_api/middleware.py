"""ASGI layers in front of Connexion: request ids and logs, request-target and body limits,
content negotiation, query-string normalisation. Each answers with a JSON:API error itself when it
refuses a request (a JSON-RPC error object on the JSON-RPC route).
"""

import json
import logging
import re
import time
import uuid

from connexion.middleware.abstract import ROUTING_CONTEXT

from dataset_api import metrics
from dataset_api.config import Config
from dataset_api.errors import MEDIA_TYPE, ApiError, error_body, error_object
from dataset_api.jsonapi import values
from dataset_api.jsonapi.querystring import normalise
from dataset_api.transfer import encoding

log = logging.getLogger("dataset_api.access")

ACCEPTED_BODY_TYPES = ("application/vnd.api+json", "application/json")
ACCEPTABLE = ("application/vnd.api+json", "application/json", "application/*", "*/*")
OPEN_PATHS = ("/ui", "/openapi.json", "/openapi.yaml")
RPC_PATH = "/annotations/_rpc"
RPC_PATHS = (RPC_PATH, RPC_PATH + "/batch")  # one protocol: a call or a batch, and a batch only
# DESIGN §10's exceptions: an import's body is NDJSON or CSV, streamed to the handler (not
# buffered here) up to its own limit; an export answers NDJSON, CSV or JSON (COCO).
IMPORT_PATH = re.compile(r"^/datasets/[^/]+/import$")
IMPORT_BODY_TYPES = ("application/x-ndjson", "text/csv")
EXPORT_PATH = re.compile(r"^/datasets/[^/]+/export$")
EXPORT_ACCEPTABLE = ("application/x-ndjson", "text/csv", "application/json", "application/*", "text/*", "*/*")
STREAM_PATH = "/events/stream"  # the live event log: Server-Sent Events, another exception
STREAM_ACCEPTABLE = ("text/event-stream", "text/*", "*/*")
METRICS_PATH = "/metrics"  # answers in Prometheus' text format: text/plain, whatever else is asked
METRICS_ACCEPTABLE = ("text/plain", "text/*", "*/*")
# The longest request target (path and query string, as sent) served: 64 KiB holds a filter of
# 1,000 UUIDs (37 KB) with room to spare. Longer ones get 414, from here or, past what a worker
# buffers, from the HTTP protocol itself (cli.py), never the HTTP server's text/plain 400.
MAX_TARGET_BYTES = 64 * 1024
# Request headers: at most MAX_HEADER_FIELDS fields of MAX_HEADER_BYTES in all (names and values);
# a token of a few KiB fits many times over. More is a 431 from the HTTP protocol (cli.py).
MAX_HEADER_FIELDS, MAX_HEADER_BYTES = 100, 64 * 1024


def target_length(scope):
    """Bytes of the request target the client sent: raw path, ``?`` and raw query string."""
    query = scope.get("query_string") or b""
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    return len(path) + (len(query) + 1 if query else 0)


def too_long(length, exact=True):
    """The 414 for a request target of ``length`` bytes (more, unless ``exact``)."""
    size = f"{length} bytes" if exact else f"over {length} bytes"
    return ApiError(f"The request target is {size}; at most {MAX_TARGET_BYTES} (64 KiB) are "
                    f"served. Filter on fewer values per request.", status=414)


def headers_too_large():
    """The 431 for request headers past MAX_HEADER_FIELDS or MAX_HEADER_BYTES."""
    return ApiError(f"The request headers exceed {MAX_HEADER_FIELDS} fields or {MAX_HEADER_BYTES} "
                    f"bytes (64 KiB) in all.", status=431)


def error_payload(exc, rpc=False):
    """(body, media type) of the refusal ``exc``: a JSON:API error document, or on the JSON-RPC
    route the protocol's error object (-32600 unless unparseable)."""
    if rpc:
        parse_error = exc.errors[0].get("code") == "parse_error"
        return json.dumps({"jsonrpc": "2.0", "id": None, "error": {
            "code": -32700 if parse_error else -32600,
            "message": "Parse error" if parse_error else "Invalid Request",
            "data": {"detail": exc.errors[0]["detail"]}}}).encode(), "application/json"
    return error_body(exc.status, exc.errors), MEDIA_TYPE


async def send_error(send, exc, extra_headers=(), rpc=False):
    body, media = error_payload(exc, rpc)
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status,
                "headers": headers + list(extra_headers)})
    await send({"type": "http.response.body", "body": body})


def _media_type(value):
    """Split a Content-Type into (type, {param: value}); raise ValueError when malformed."""
    kind, *params = [p.strip() for p in value.split(";")]
    parsed = {}
    for p in params:
        name, eq, val = p.partition("=")
        if not eq or not name:
            raise ValueError(value)
        parsed[name.strip().lower()] = val.strip().strip('"').lower()
    return kind.lower(), parsed


class Gatekeeper:
    """Checks what Connexion cannot say as JSON:API: media types, body size and encoding."""

    def __init__(self, app, max_body_bytes, max_import_bytes=Config.max_import_bytes):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_import_bytes = max_import_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            scope = self._check(scope)
            receive = await self._read_body(scope, receive)
        except ApiError as exc:
            return await send_error(send, exc, rpc=scope["path"] in RPC_PATHS)
        await self.app(scope, receive, send)

    def _check(self, scope):
        length = target_length(scope)
        if length > MAX_TARGET_BYTES:
            raise too_long(length)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        _check_encoding(scope)
        if path.startswith(OPEN_PATHS) or path in RPC_PATHS:
            return scope
        accept = headers.get("accept")
        if accept and not any(_accepts(part, path) for part in accept.split(",")):
            raise ApiError(_only(path), status=406)
        if scope.get("query_string"):
            scope = dict(scope, query_string=normalise(scope["query_string"]))
        return _as_jsonapi_body(scope)

    async def _read_body(self, scope, receive):
        headers = dict(scope["headers"])
        if IMPORT_PATH.match(scope["path"]):  # other methods: routing answers 405
            return _import_body(headers, receive, self.max_import_bytes) if scope["method"] == "POST" \
                else receive
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        if scope["method"] not in ("POST", "PATCH", "PUT"):
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError("The client went away.", status=400)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
        raw = b"".join(chunks)
        if scope["path"] in RPC_PATHS and not raw.strip():
            raise ApiError("The body is empty: not JSON.", status=400, code="parse_error")
        if raw:
            _check_body(headers.get(b"content-type", b"").decode("latin-1"), raw,
                        parse=scope["path"] not in RPC_PATHS)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        return replay


def _too_large(limit):
    return ApiError(f"The body exceeds {limit} bytes.", status=413)


def _check_encoding(scope):
    """415 for a Content-Encoding the route does not take: gzip on an import, identity anywhere
    (DESIGN §11); a label the body does not match would be misread, never ignored."""
    named = encoding.codings(scope["headers"])
    if not named:
        return
    if IMPORT_PATH.match(scope["path"]) and scope["method"] == "POST":
        if len(named) > 1 or named[0] not in encoding.GZIP:
            raise encoding.unsupported(named, gzip_taken=True)
    else:
        raise encoding.unsupported(named)


def _import_body(headers, receive, limit):
    """An import's body: NDJSON or CSV in UTF-8, passed on as it arrives (decompressed when sent
    gzip-compressed), at most ``limit`` bytes (decompressed)."""
    try:
        kind, params = _media_type(headers.get(b"content-type", b"").decode("latin-1"))
    except ValueError:
        kind, params = "", {"?": "?"}
    if kind not in IMPORT_BODY_TYPES or set(params) - {"charset"} or \
            params.get("charset", "utf-8") != "utf-8":
        raise ApiError("Send the import as application/x-ndjson or text/csv (UTF-8).", status=415)
    length = headers.get(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    size = 0
    gunzip = encoding.Gunzip(limit) if b"content-encoding" in headers and \
        encoding.codings(headers.items()) else None

    async def counted():
        nonlocal size
        message = await receive()
        if gunzip is not None and message["type"] == "http.request":
            message = dict(message, body=gunzip.feed(message.get("body", b"")))
            if not message.get("more_body", False):
                gunzip.finish()
        size += len(message.get("body", b""))
        if size > limit:
            raise _too_large(limit)
        return message

    return counted


def _only(path):
    """The 406 detail: what ``path`` answers with."""
    if path == METRICS_PATH:
        return "The server answers with text/plain (version=0.0.4) only."
    if EXPORT_PATH.match(path):
        return "An export is application/x-ndjson, text/csv or application/json (COCO)."
    if path == STREAM_PATH:
        return "The event stream is text/event-stream (Server-Sent Events)."
    return "The server answers with application/vnd.api+json only."


def _as_jsonapi_body(scope):
    """Relabel an ``application/json`` body as ``application/vnd.api+json`` (parameters kept):
    the spec declares one media type per body, as generated clients need, and DESIGN §3 accepts both."""
    headers = []
    for key, value in scope["headers"]:
        if key == b"content-type" and value.split(b";")[0].strip().lower() == b"application/json":
            value = b"application/vnd.api+json" + value[value.index(b";"):] if b";" in value \
                else b"application/vnd.api+json"
        headers.append((key, value))
    return dict(scope, headers=headers)


def _accepts(part, path):
    kind, _, params = part.strip().partition(";")
    kind = kind.strip().lower()
    if path == METRICS_PATH:
        return kind in METRICS_ACCEPTABLE
    if EXPORT_PATH.match(path):
        return kind in EXPORT_ACCEPTABLE
    if path == STREAM_PATH:
        return kind in STREAM_ACCEPTABLE
    if kind == "application/vnd.api+json" and params.strip() and "q=" not in params:
        return False  # JSON:API: media type parameters in Accept are not supported
    return kind in ACCEPTABLE


def _check_body(content_type, raw, parse=True):
    try:
        kind, params = _media_type(content_type)
    except ValueError:
        kind, params = "", {"?": "?"}
    if kind not in ACCEPTED_BODY_TYPES or set(params) - {"charset"} or \
            params.get("charset", "utf-8") != "utf-8":
        raise ApiError("Send the body as application/vnd.api+json (or application/json).",
                       status=415)
    if not parse:  # JSON-RPC answers parse errors itself
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("The body is not valid UTF-8.", status=400, pointer="", code="parse_error") from None
    try:  # text the database cannot store is refused where it is used (jsonapi/body.py), so
        # that members the server ignores (meta, links) never are a reason to refuse a body
        document = values.loads(text, check_text=False)
    except ValueError as exc:
        raise ApiError(f"The body is not valid JSON: {exc}.", status=400, pointer="",
                       code="parse_error") from None
    if document is None:  # JSON null would pass for "no body"; a JSON:API document is an object
        raise ApiError("The body is null; a JSON:API document is a JSON object.", status=422,
                       pointer="")


class RequestLog:
    """Gives each request an id (or keeps the client's ``X-Request-ID``), logs one line and counts
    it in the request metrics, labelled by the operationId Connexion's routing resolved."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        started, status = time.perf_counter(), [500]
        # Connexion's routing writes the operation into scope["extensions"]["connexion_routing"] of
        # its (shallow) copy of the scope; the layers in between copy shallowly too, so the dict
        # given here is the one it writes into.
        extensions = {**scope.get("extensions", {})}
        scope = {**scope, "extensions": extensions}
        counted, responded = [], []

        def count():
            if not counted:
                counted.append(True)
                routing = extensions.get(ROUTING_CONTEXT) or {}
                metrics.observe_request(routing.get("operation_id"), status[0],
                                        time.perf_counter() - started)
                metrics.sample_pool()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                responded.append(True)
                message = dict(message, headers=[*message.get("headers", []),
                                                 (b"x-request-id", request_id.encode())])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                count()  # before the last byte leaves: a client that got its answer sees it counted
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error request_id=%s", request_id)
            if responded:  # a streamed response failed half-way: the server drops the connection
                raise
            await send_error(send_with_id, ApiError("Internal server error."))
        finally:
            count()
            log.info(json.dumps({
                "request_id": request_id, "method": scope["method"], "path": scope["path"],
                "status": status[0], "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }))


__all__ = ["Gatekeeper", "RequestLog", "error_object"]
