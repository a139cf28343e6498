"""openapi.yaml is a valid OpenAPI document, its generated blocks are current, and it lists every
route of the reference and every filter key the server accepts."""

import subprocess
import sys
from pathlib import Path

import yaml
from openapi_spec_validator import validate

from dataset_api.registry import RESOURCES, filter_keys

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.load((ROOT / "openapi.yaml").read_text(), yaml.CSafeLoader)  # LibYAML: 5x faster
METHODS = ("get", "post", "patch", "put", "delete")


def operations():
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_document_is_valid_openapi():
    validate(SPEC)


def test_generated_blocks_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "filter_params.py"), "--check"])
    assert result.returncode == 0, "run: python tools/filter_params.py"


def test_examples_are_current():
    """components/examples are what the server answers in tools/spec_examples.py's session."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "spec_examples.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"run: python tools/spec_examples.py\n{result.stderr[-2000:]}"


def test_every_operation_has_a_description_and_examples():
    for path, method, op in operations():
        assert op.get("description", "").strip(), f"{method} {path}"
        bodies = op.get("requestBody", {}).get("content", {})
        successes = [r for status, r in op["responses"].items() if status.startswith("2") and "content" in r]
        for media in [*bodies.values(), *(m for r in successes for m in r["content"].values())]:
            assert "example" in media or "examples" in media, f"{method} {path}"


def test_every_crud_route_of_the_reference_exists():
    for res, resource in RESOURCES.items():
        if resource.read_only:  # records the server makes (webhook deliveries): list and show
            for path in (f"/{res}", f"/{res}/{{id}}"):
                assert set(SPEC["paths"][path]) - {"parameters"} == {"get"}
            continue
        assert {"get", "post"} <= set(SPEC["paths"][f"/{res}"])
        assert {"get", "patch", "delete"} <= set(SPEC["paths"][f"/{res}/{{id}}"])
    assert "post" in SPEC["paths"]["/note_feeds/{id}/resolve"]


def resolved(parameter):
    if "$ref" in parameter:
        return SPEC["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
    return parameter


def test_every_reference_filter_is_declared():
    reference = (ROOT / "tests" / "data" / "reference-filters.txt").read_text().split()
    for line in reference:
        res, key = line.split(":")
        names = {resolved(p)["name"] for p in SPEC["paths"][f"/{res}"]["get"]["parameters"]}
        assert key in names, f"{key} missing on GET /{res}"


def test_declared_filters_equal_the_accepted_ones():
    for res, resource in RESOURCES.items():
        declared = {p["name"] for p in SPEC["paths"][f"/{res}"]["get"]["parameters"]
                    if p.get("name", "").startswith("filter[")}
        assert declared == {f"filter[{k}]" for k in filter_keys(resource)}


def test_every_operation_documents_its_errors_with_a_schema():
    for path, method, op in operations():
        responses = op["responses"]
        rpc = path.startswith("/annotations/_rpc")  # JSON-RPC answers in its own error objects
        assert rpc or "406" in responses, f"{method} {path}"
        for status, response in responses.items():
            if "$ref" in response:
                response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            if status != "204":
                assert response.get("content"), f"{method} {path} {status} has no schema"
        if op.get("security") != []:
            assert "401" in responses, f"{method} {path}"
        if method in ("post", "patch") and "requestBody" in op:
            assert {"413", "415"} <= set(responses), f"{method} {path}"
            assert rpc or "422" in responses, f"{method} {path}"


def test_operation_ids_resolve_to_handlers():
    import importlib

    from dataset_api.app import handler_name

    for _path, _method, op in operations():
        module, _, name = op["x-openapi-router-controller"], None, handler_name(op["operationId"])
        assert callable(getattr(importlib.import_module(module), name)), op["operationId"]

