"""The application factory: Connexion over openapi.yaml, the database, auth and error rendering."""

import functools
import inspect
import logging
import re
from pathlib import Path

import peewee
from connexion import AsyncApp
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.utils import get_function_from_name
from connexion.validators import VALIDATOR_MAP
from playhouse.pool import MaxConnectionsExceeded
from starlette.exceptions import HTTPException

from dataset_api import errors, metrics, migrations, resources, spec
from dataset_api.auth import tokens
from dataset_api.config import Config, RequestState
from dataset_api.db import bind, db, is_outage
from dataset_api.events import outbox
from dataset_api.jsonapi.validators import (
    JsonApiBodyValidator,
    JsonApiParameterValidator,
    NdjsonResponseValidator,
    OperationURIParser,
    StreamedBody,
)
from dataset_api.jsonrpc import endpoint
from dataset_api.middleware import RPC_PATHS, Gatekeeper, RequestLog

log = logging.getLogger("dataset_api")


def with_connection(function):
    """Run a handler on a pooled connection, returned to the pool afterwards."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with db.connection_context():
            metrics.sample_pool()  # this worker's pool while the handler holds its connection
            return function(*args, **kwargs)

    return wrapper


def handler_name(operation_id):
    """``listEntries`` -> ``list_entries``: handlers are named by their operationId, in snake case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def _resolve(name):
    """Resolve ``<x-openapi-router-controller>.<operationId>`` to the handler function."""
    module, _, operation_id = name.rpartition(".")
    function = get_function_from_name(f"{module}.{handler_name(operation_id)}")
    # coroutine handlers (the JSON-RPC endpoint) manage their own connection in a worker thread
    return function if inspect.iscoroutinefunction(function) else with_connection(function)


CHALLENGE = 'Bearer realm="dataset-api"'  # RFC 6750 §3


def _status_headers(status):
    """Headers an error status carries: a challenge on 401, a retry hint on 503."""
    retry = str(errors.RETRY_AFTER)
    return {401: {"WWW-Authenticate": CHALLENGE}, 503: {"Retry-After": retry}}.get(status, {})


def _response(exc):
    headers = {"Content-Type": errors.MEDIA_TYPE, **_status_headers(exc.status), **exc.headers}
    return ConnexionResponse(status_code=exc.status, body=errors.error_body(exc.status, exc.errors),
                             content_type=errors.MEDIA_TYPE, mimetype=errors.MEDIA_TYPE,
                             headers=headers)


RPC_CODES = {401: -32001, 503: -32005}


def _rpc_response(status, detail):
    """JSON-RPC clients get the protocol's error object even for HTTP-level refusals."""
    data = {"detail": detail}
    if status == 503:
        data["retry_after"] = errors.RETRY_AFTER
    body = endpoint.error_body(RPC_CODES.get(status, -32600), data)
    return ConnexionResponse(status_code=status, body=body,
                             content_type=endpoint.MEDIA_TYPE, mimetype=endpoint.MEDIA_TYPE,
                             headers=_status_headers(status))


def api_error(request, exc):
    log.warning("%s %s -> %s %s", request.method, request.url.path, exc.status, exc.errors)
    if request.url.path in RPC_PATHS and (exc.status < 500 or exc.status in RPC_CODES):
        return _rpc_response(exc.status, exc.errors[0]["detail"])
    return _response(exc)


def problem_error(request, exc):
    if request.url.path in RPC_PATHS and exc.status < 500:
        log.warning("%r", exc)
        return _rpc_response(exc.status, exc.detail or exc.title)
    err = errors.from_problem(exc.status, exc.detail, exc.title)
    if exc.status >= 500:
        log.error("%r", exc)
        err = errors.ApiError("Internal server error.", status=exc.status)
    else:
        log.warning("%r", exc)
    return _response(err)


def route_table(paths):
    """Return [(compiled path template, "GET, POST")] from the spec, for 405 ``Allow`` headers."""
    table = []
    for template, item in paths.items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        methods = [m.upper() for m in item if m in ("get", "post", "patch", "put", "delete")]
        table.append((re.compile(f"^{pattern}$"), ", ".join(methods)))
    return table


def http_error_handler(routes):
    """Render Starlette's 404/405 as JSON:API; a 405 lists every method the path has."""

    def http_error(request, exc):
        path = request.url.path
        if exc.status_code == 404:
            return _response(errors.NotFound(f"No route for {path}."))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = next((m for rx, m in routes if rx.match(path)), headers.get("Allow", ""))
            headers["Allow"] = allow
            detail = f"{request.method} is not allowed on {path}; allowed: {allow}."
        else:
            detail = exc.detail or errors.TITLES.get(exc.status_code, "Error")
        return _response(errors.ApiError(detail, status=exc.status_code, headers=headers))

    return http_error


def database_error(request, exc):
    """A database that cannot be reached (or is locked too long) is a 503; anything else a 500."""
    if is_outage(exc):
        log.error("database unavailable: %r", exc)
        if request.url.path in RPC_PATHS:
            return _rpc_response(503, errors.UNAVAILABLE)
        return _response(errors.Unavailable(errors.UNAVAILABLE))
    return internal_error(request, exc)


def internal_error(request, exc):
    log.error("unhandled error", exc_info=exc)
    return _response(errors.ApiError("Internal server error."))


def configure(config):
    """Point the one process-wide piece, the database, at ``config``'s (migrating the default
    SQLite file); every other setting is the app's own, in its requests' state."""
    database = bind(config.db_url, lock_timeout_ms=config.pg_lock_timeout_ms,
                    statement_timeout_ms=config.pg_statement_timeout_ms,
                    busy_timeout_ms=config.sqlite_busy_timeout_ms, pool_size=config.pg_pool_size)
    if config.is_default_sqlite:
        migrations.migrate(database)
    outbox.configure(redis=config.redis_url)


def create_app(config=None):
    """Return the Connexion ``AsyncApp`` for ``config`` (default: from the environment)."""
    config = config or Config.from_env()
    path = Path(config.spec_path) if config.spec_path else spec.PATH
    resources.load(config.resource_modules, spec.document(path))
    # Connexion warns on every request that an operation accepts two media types; we mean it.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
    configure(config)
    app = AsyncApp(__name__, specification_dir=path.parent)
    validators = dict(VALIDATOR_MAP, parameter=JsonApiParameterValidator,
                      body=MediaTypeDict({"*/*json": JsonApiBodyValidator,
                                          "application/x-ndjson": StreamedBody}),
                      response=MediaTypeDict({**VALIDATOR_MAP["response"],
                                              "application/x-ndjson": NdjsonResponseValidator}))
    # Connexion's own spec routes would serve its inlined copy; spec.ServeSpec serves the file.
    ui = SwaggerUIOptions(serve_spec=False, spec_path="/openapi.json",
                          swagger_ui_config={"persistAuthorization": True})
    # the document as loaded above (once per process), not the file: Connexion would parse it again
    # with PyYAML's pure-Python loader (1.6 s of CPU per app built, per server process)
    app.add_api(spec.document(path), strict_validation=True, validate_responses=config.validate_responses,
                resolver=Resolver(function_resolver=_resolve), validator_map=validators,
                uri_parser_class=OperationURIParser,
                swagger_ui_options=ui)
    app.add_error_handler(errors.ApiError, api_error)
    app.add_error_handler(ProblemException, problem_error)
    app.add_error_handler(HTTPException, http_error_handler(route_table(spec.document(path)["paths"])))
    app.add_error_handler(peewee.OperationalError, database_error)
    app.add_error_handler(peewee.InterfaceError, database_error)
    app.add_error_handler(MaxConnectionsExceeded, database_error)  # a ValueError: named, not the 500
    app.add_error_handler(Exception, internal_error)
    # outermost of ours: every layer within reads this app's settings from the request's state
    app.add_middleware(RequestState, position=MiddlewarePosition.BEFORE_EXCEPTION, config=config,
                       verifier=tokens.verifier_for(config), cursor_key=tokens.cursor_key(config))
    app.add_middleware(RequestLog, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(Gatekeeper, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       max_body_bytes=config.max_body_bytes, max_import_bytes=config.max_import_bytes)
    app.add_middleware(spec.ServeSpec, position=MiddlewarePosition.BEFORE_SWAGGER, path=path,
                       public_url=config.public_url,
                       trusted_proxies=spec.trusted_networks(config.trusted_proxies))
    app.config = config
    return app
