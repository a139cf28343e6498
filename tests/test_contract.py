"""Schemathesis over every operation of openapi.yaml, against the ASGI app, with a valid token
and every check: no 5xx for anything it can generate, every response conforms to the document,
schema-valid requests are accepted and schema-invalid ones refused.

Each test runs once per batch of paths (at most 5 operations, as the outside run's st runs): one
pytest test runs every operation of its schema as a subtest and Schemathesis keeps what it built
for each until the test ends, so one test over all 56 grew past 9 GB (tests/schemathesis_hooks.py,
"memory", which this module loads: the serializers and the memory workarounds)."""

import json
import re
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

from tests.conftest import token
from tests.schemathesis_hooks import batches

pytestmark = pytest.mark.contract

AUTH = {"Authorization": f"Bearer {token()}"}
SPEC = yaml.load((Path(__file__).resolve().parent.parent / "openapi.yaml").read_text(), yaml.CSafeLoader)
BATCHES = [paths for paths, _ in batches(SPEC)]
_SERVED = {}


def batch_id(paths):
    return f"{paths[0]}..{paths[-1]}" if len(paths) > 1 else paths[0]


@pytest.fixture(params=BATCHES, ids=batch_id)
def paths(request):
    return request.param


def schema_of(app, paths):
    """The served document with only ``paths``, run against ``app``."""
    if "document" not in _SERVED:
        with app.test_client() as client:
            _SERVED["document"] = client.get("/openapi.json").text
    document = json.loads(_SERVED["document"])
    assert set(document["paths"]) == set(SPEC["paths"]), "the batches are openapi.yaml's paths"
    document["paths"] = {path: document["paths"][path] for path in paths}
    schema = schemathesis.openapi.from_dict(document)
    schema.app, schema.location = app, "/openapi.json"
    # Text may not contain U+0000 (PostgreSQL cannot store it); the server answers 400/422 for
    # it, tested in test_resources, and the document says so.
    schema.config.generation.update(allow_x00=False)
    return schema


@pytest.fixture(autouse=True)
def one_batch_at_a_time(request):
    """Let go of the batch's schema when its test ends. Schemathesis's pytest plugin keeps every
    schema a test ran (and with it every operation's test it built) until the session ends, to run
    the checks that look at a whole run (``after_run``): they run here, for the batch, instead."""
    yield
    from schemathesis.pytest._keys import _PYTEST_SCHEMAS_KEY
    from schemathesis.pytest.plugin import _fire_after_run

    tracked = request.config.stash.get(_PYTEST_SCHEMAS_KEY, {})
    failures = [failure for schema in tracked.values() for failure in _fire_after_run(schema)]
    tracked.clear()
    assert not failures, "\n".join(map(str, failures))


@pytest.fixture
def contract_schema(app, paths):
    return schema_of(app, paths)


schema = schemathesis.pytest.from_fixture("contract_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_operation_conforms(case):
    case.call_and_validate(headers=AUTH)


# --- object-level authorization ------------------------------------------------------------------
# Schemathesis again, now as the owner of another organization, over a database holding one record
# of every resource in organization 7: whatever it sends, no id of those records may come back.

OUTSIDER = {"Authorization": "Bearer " + token(account_id=801, email="owner@org8.example",
                                                 role="org_owner", orgs=(8,))}


@pytest.fixture
def foreign_ids(api, tree):
    from tests.factories import one_of_each

    world = one_of_each(api, tree)
    return {str(record["id"]) for key, record in world.items() if key != "all_entries"} | {
        entry["id"] for entry in world["all_entries"]}


@pytest.fixture
def outsider_schema(app, paths, foreign_ids):
    return schema_of(app, paths)


def _values(document):
    """Every resource id and every string in a JSON document."""
    if isinstance(document, dict):
        if "type" in document and "id" in document:
            yield str(document["id"])
        for value in document.values():
            yield from _values(value)
    elif isinstance(document, list):
        for value in document:
            yield from _values(value)
    elif isinstance(document, str):
        yield document


INDEXES = r"^/[a-z_]+$"
outsider = schemathesis.pytest.from_fixture("outsider_schema").include(method="GET", path_regex=INDEXES)
OUTSIDER_BATCHES = [paths for paths, _ in batches({"paths": {
    path: item for path, item in SPEC["paths"].items() if re.match(INDEXES, path) and "get" in item}})]


@pytest.mark.parametrize("paths", OUTSIDER_BATCHES, ids=batch_id)
@outsider.parametrize()
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_another_organization_never_sees_a_record(case, foreign_ids):
    response = case.call(headers=OUTSIDER)
    assert response.status_code < 500, response.text
    if "json" in response.headers.get("content-type", ""):
        leaked = sorted(foreign_ids & set(_values(response.json()))) if response.content else []
    else:  # /metrics (text): no record's UUID anywhere in it (an integer id reads as any number)
        leaked = sorted(i for i in foreign_ids if len(i) == 36 and i in response.text)
    assert not leaked, f"{case.method} {case.formatted_path} leaked {leaked}: {response.text[:300]}"
