"""The ``ApiError`` hierarchy and its JSON:API rendering (https://jsonapi.org/format/#errors)."""

import json
import logging
import re

log = logging.getLogger("dataset_api")

MEDIA_TYPE = "application/vnd.api+json"
RETRY_AFTER = 5  # seconds a client should wait after a 503 (its Retry-After header)
UNAVAILABLE = "The database is unavailable; try again shortly."

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 412: "Precondition Failed",
    413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    503: "Service Unavailable",
}
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    412: "stale_version", 413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
    422: "invalid", 431: "headers_too_large", 500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    """An error a client caused (or a 5xx); carries one or more JSON:API error objects."""

    status = 500

    def __init__(self, detail, *, pointer=None, parameter=None, code=None, status=None,
                 headers=None, errors=None):
        super().__init__(detail)
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.errors = errors or [error_object(self.status, detail, pointer=pointer,
                                              parameter=parameter, code=code)]


class InvalidQuery(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PreconditionFailed(ApiError):
    status = 412


class Invalid(ApiError):
    status = 422


class Unavailable(ApiError):
    status = 503


def error_object(status, detail, *, pointer=None, parameter=None, code=None):
    """Return one JSON:API error object."""
    obj = {"status": str(status), "code": code or CODES.get(status, "error"),
           "title": TITLES.get(status, "Error"), "detail": detail}
    if pointer is not None:
        obj["source"] = {"pointer": pointer}
    elif parameter is not None:
        obj["source"] = {"parameter": parameter}
    return obj


def error_body(status, errors):
    return json.dumps({"errors": errors}).encode()


_EXTRA_PARAM = re.compile(r"Extra query parameter\(s\) (.+) not in spec")
_PARAM_NAME = re.compile(r"(?:parameter|Parameter) '([^']+)'")


def from_problem(status, detail, title=None):
    """Turn a Connexion problem (status, detail) into an ApiError with a source when we know it."""
    detail = detail or title or TITLES.get(status, "Error")
    if status == 400:
        match = _EXTRA_PARAM.search(detail)
        if match:
            names = match.group(1).split(",")
            return InvalidQuery(detail, errors=[
                error_object(400, f"Unknown query parameter '{n}'.", parameter=n, code="unknown_parameter")
                for n in names])
        match = _PARAM_NAME.search(detail)
        return InvalidQuery(detail, parameter=match.group(1) if match else None)
    return ApiError(detail, status=status)
