"""Connexion validators that report failures as JSON:API errors with a source.

Parameters -> 400 with ``source.parameter``; bodies that break the schema -> 422 with
``source.pointer`` (the body has already been checked for media type, UTF-8 and JSON syntax).
"""

import json

from connexion.exceptions import NonConformingResponseBody
from connexion.json_schema import Draft4ResponseValidator
from connexion.uri_parsing import OpenAPIURIParser
from connexion.utils import is_null, is_nullable
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from jsonschema.exceptions import best_match

from dataset_api.errors import Conflict, Invalid, InvalidQuery
from dataset_api.jsonapi.query import CURSOR, refused_cursor


class OperationURIParser(OpenAPIURIParser):
    """Connexion's OpenAPI URI parser with its tables made once per operation. Connexion makes a
    parser for every request, two or three times (validation, body, handler), each time building a
    table of the operation's parameters (70–135 on a list route), and builds the table of their
    schemas again for every query parameter the request names."""

    _tables = {}  # id(parameter list) -> (the list, parameters by name, their schemas by name)

    def __init__(self, param_defns, body_defn):
        known = self._tables.get(id(param_defns))
        if known is None or known[0] is not param_defns:
            super().__init__(param_defns, body_defn)
            schemas = {name: p.get("schema", {}) for name, p in self._param_defns.items()}
            self._tables[id(param_defns)] = known = (param_defns, self._param_defns, schemas)
        else:
            self._body_schema = body_defn.get("schema", {})
            self._body_encoding = body_defn.get("encoding", {})
        self._param_defns, self._schemas = known[1], known[2]

    @property
    def param_schemas(self):
        return self._schemas


class JsonApiParameterValidator(ParameterValidator):
    _schemas = {}  # id(parameter) -> (parameter, Draft4Validator): built once, not per request

    @classmethod
    def validate_parameter(cls, parameter_type, value, param, param_name=None):
        """Connexion's check without its per-request deepcopy and validator construction."""
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing {parameter_type} parameter '{param['name']}'" \
                if param.get("required") else None
        cached = cls._schemas.get(id(param))
        if cached is None or cached[0] is not param:
            validator = Draft4Validator(param.get("schema", param),
                                        format_checker=Draft4Validator.FORMAT_CHECKER)
            cls._schemas[id(param)] = cached = (param, validator)
        error = next(iter(cached[1].iter_errors(value)), None)
        return str(error) if error is not None else None

    def validate_request(self, request):
        if self.strict_validation:
            extra = self.validate_query_parameter_list(
                request, security_params=self.security_query_params)
            if extra:
                name = sorted(extra)[0]
                raise InvalidQuery(f"Unknown query parameter '{name}'.", parameter=name,
                                   code="unknown_parameter")
        given = {"query": request.query_params, "path": request.path_params,
                 "header": request.headers, "cookie": request.cookies}
        for where, check in (("query", self.validate_query_parameter),
                             ("path", self.validate_path_parameter),
                             ("header", self.validate_header_parameter),
                             ("cookie", self.validate_cookie_parameter)):
            for param in self._to_check(where, given[where]):
                error = check(param, request)
                error = error and error.splitlines()[0]
                if error:
                    name = param["name"]
                    if name == CURSOR:  # not of a cursor's shape: garbled, refused as any bad one
                        raise refused_cursor()
                    raise InvalidQuery(f"Invalid {where} parameter '{name}': {error}",
                                       parameter=name)

    def _to_check(self, where, given):
        """The declared parameters of ``where`` that the request gives, and the required ones, in
        the spec's order: one that is absent and optional passes whatever its schema (Connexion
        would check all 70–135 parameters of a list route on every request)."""
        if where == "path":  # named in the route itself: always given
            return self.parameters.get(where, [])
        # ``given`` is a mapping of names; the headers' (Starlette's) compare without case
        return [p for p in self.parameters.get(where, []) if p.get("required") or p["name"] in given]


def pointer(path):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


class JsonApiBodyValidator(JSONRequestBodyValidator):
    """422 with a pointer; bodies marked ``x-jsonrpc`` pass untouched (the protocol has its own
    parse and invalid-request errors)."""

    async def _parse(self, stream, scope):
        if self._schema.get("x-jsonrpc"):
            async for _ in stream:  # read it all so that it is replayed to the handler
                pass
            return None
        return await super()._parse(stream, scope)

    def _validate(self, body):
        if self._schema.get("x-jsonrpc"):
            return None
        if body is None:
            if self._nullable or not self._required:
                return None
            raise Invalid("A request body is required.", pointer="")
        try:
            return self._validator.validate(body)
        except ValidationError as exc:
            _refuse(exc)


def _deepest(exc):
    """The error that says most inside an ``anyOf`` or ``oneOf``: from the branch with the fewest
    errors (the first on a tie), a wrong type first."""
    while exc.validator in ("anyOf", "oneOf") and exc.context:
        branches = {}
        for error in exc.context:
            branches.setdefault(error.relative_schema_path[0], []).append(error)
        errors = min(branches.values(), key=len)
        exc = next((e for e in errors if list(e.absolute_path) == ["data", "type"]), None) \
            or best_match(errors)
    return exc


def _refuse(exc):
    """Raise the JSON:API error for a body that breaks the schema: 409 for a wrong ``data.type``
    (https://jsonapi.org/format/#crud-creating-responses-409), else 422 with a pointer."""
    exc = _deepest(exc)
    path = list(exc.absolute_path)
    if path == ["data", "type"] and exc.validator == "enum":
        raise Conflict(f"Type {exc.instance!r} does not match this endpoint; expected "
                       f"{exc.validator_value[0]!r}.", pointer="/data/type", code="type_mismatch")
    if exc.validator == "additionalProperties" and exc.instance is not None:
        extra = sorted(set(exc.instance) - set(exc.schema.get("properties", {})))
        if extra:
            path.append(extra[0])
            raise Invalid(f"Unknown member '{extra[0]}'.", pointer=pointer(path)) from None
    if exc.validator == "not" and path == ["data"]:  # a create body's parent, given neither way
        missing = exc.validator_value["properties"]["attributes"]["not"]["required"][0]
        raise Invalid(f"'{missing}' is required.", pointer=f"/data/attributes/{missing}",
                      code="required") from None
    if exc.validator == "required":
        missing = exc.message.split("'")[1] if "'" in exc.message else ""
        path.append(missing)
        raise Invalid(f"'{missing}' is required.", pointer=pointer(path), code="required") from None
    raise Invalid(exc.message, pointer=pointer(path)) from None


class StreamedBody:
    """The body "validator" of an import (``application/x-ndjson``, which ``*/*json`` would
    otherwise claim): the body is left to stream to the handler, which checks it line by line
    (``dataset_api.transfer``); the Gatekeeper has checked its media type and size."""

    def __init__(self, **_):
        pass

    async def wrap_receive(self, receive, *, scope):
        return receive, scope


class NdjsonResponseValidator:
    """Response validation (``validate_responses``) of an NDJSON body, line by line against the
    items of its array schema, as the lines pass: the body still streams (Connexion's JSON
    validator would wait for the whole of it, then fail to parse it as one document)."""

    def __init__(self, scope, *, schema, nullable=False, encoding="utf-8"):
        self._validator = Draft4ResponseValidator(schema.get("items", {}),
                                                  format_checker=Draft4Validator.FORMAT_CHECKER)
        self._encoding = encoding

    def wrap_send(self, send):
        rest = b""

        async def send_(message):
            nonlocal rest
            if message["type"] == "http.response.body":
                done, _, rest = (rest + message.get("body", b"")).rpartition(b"\n")
                if not message.get("more_body", False) and rest:
                    raise NonConformingResponseBody(detail="The last NDJSON line has no newline.")
                for line in done.split(b"\n") if done else ():
                    self._check(json.loads(line.decode(self._encoding)))
            await send(message)

        return send_

    def _check(self, line):
        error = best_match(self._validator.iter_errors(line))
        if error is not None:
            raise NonConformingResponseBody(detail=f"An NDJSON line breaks its schema: {error.message}")
