"""Schemathesis over every operation of openapi.yaml, against the ASGI app, with a valid token
and every check: no 5xx for anything it can generate, every response conforms to the document,
schema-valid requests are accepted and schema-invalid ones refused."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import tests.schemathesis_hooks  # noqa: F401 - serializers of the import's media types (NDJSON, CSV)
from tests.conftest import token

pytestmark = pytest.mark.contract

AUTH = {"Authorization": f"Bearer {token()}"}


@pytest.fixture
def contract_schema(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Text may not contain U+0000 (PostgreSQL cannot store it); the server answers 400/422 for
    # it, tested in test_resources, and the document says so.
    schema.config.generation.update(allow_x00=False)
    return schema


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
def outsider_schema(app, foreign_ids):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(allow_x00=False)
    return schema


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


outsider = schemathesis.pytest.from_fixture("outsider_schema").include(method="GET", path_regex=r"^/[a-z_]+$")


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
