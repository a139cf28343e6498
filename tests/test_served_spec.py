"""The contract as served (DESIGN §9): /openapi.json and /openapi.yaml are openapi.yaml as written,
with a ``servers`` entry a client can use."""

import json

import pytest
import yaml

from dataset_api import spec
from tests.conftest import app_client
from tests.test_openapi import SPEC


def without_servers(doc):
    return {k: v for k, v in doc.items() if k != "servers"}


def count_refs(node):
    if isinstance(node, dict):
        return ("$ref" in node) + sum(count_refs(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_refs(v) for v in node)
    return 0


def test_json_is_the_authored_document(anon):
    resp = anon.client.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    served = resp.json()
    assert json.loads(json.dumps(without_servers(SPEC), default=str)) == without_servers(served)
    assert count_refs(served) == count_refs(SPEC) > 500
    assert "ProjectCreate" in served["components"]["schemas"]


def test_yaml_is_the_same_document(anon):
    resp = anon.client.get("/openapi.yaml")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(resp.text) == anon.client.get("/openapi.json").json()


def test_no_token_needed_and_head_works(anon):
    assert anon.client.head("/openapi.json").status_code == 200


def test_servers_name_the_url_the_request_came_in_on(anon):
    served = anon.client.get("/openapi.json", headers={"Host": "api.example.org:8443"}).json()
    assert served["servers"][0]["url"] == "http://api.example.org:8443"


def test_forwarded_headers_are_ignored_from_untrusted_clients(anon):
    served = anon.client.get("/openapi.json", headers={
        "Host": "10.0.0.5:8000", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}).json()
    assert served["servers"][0]["url"] == "http://10.0.0.5:8000"


def test_forwarded_headers_count_from_a_trusted_proxy(tmp_path):
    # Starlette's test client connects from "testclient", which is no address: trust by network
    # is tested on base_url directly, and a public URL overrides everything.
    scope = {"scheme": "http", "client": ("10.1.2.3", 5555), "root_path": "", "headers": [
        (b"host", b"internal:8000"), (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"data.example.org, internal"), (b"x-forwarded-prefix", b"/api")]}
    trusted = spec.trusted_networks("127.0.0.1, 10.1.0.0/16")
    assert spec.base_url(scope, "", trusted) == "https://data.example.org/api"
    assert spec.base_url(scope, "", spec.trusted_networks("192.168.0.1")) == "http://internal:8000"
    assert spec.base_url(scope, "https://public.example/v1/", trusted) == "https://public.example/v1"


def test_public_url_setting(tmp_path):
    with app_client(tmp_path, public_url="https://annotate.example.com/api") as client:
        served = client.get("/openapi.json").json()
    assert served["servers"] == [{"url": "https://annotate.example.com/api", "description": "This server."}]


@pytest.mark.parametrize("path", ["/ui/", "/ui/index.html"])
def test_swagger_ui_loads_the_served_document(anon, path):
    resp = anon.client.get(path)
    assert resp.status_code == 200
    assert '"/openapi.json"' in resp.text
