"""End-to-end check of the Python client of OpenAPI Generator (``-g python``, default options),
unpatched, against a live ``dataset-api serve``.

1. Generate from ``$DATASET_API_URL/openapi.json`` into ``OUT/client`` (``../generate.py``: the
   generator exits 0 with no ERROR line and no unexplained warning).
2. Check that this venv satisfies the generated ``requirements.txt`` (``pip install --dry-run
   --no-index``: nothing to fetch), then import every generated module.
3. Drive the README's first session through the generated API classes and models, as the admin of
   ``$DATASET_API_TOKEN``: a project, a dataset, a JSON filter, 3 entries, a filtered, sorted,
   counted list with ``included``, ``GET /entries/next``, one JSON-RPC call and one batch, submit,
   review, import (NDJSON lines from the generated ``ImportLine``), export (lines parsed by the
   generated ``ExportLine``).

Run it with the Python of the clients' venv (docs/clients-openapi-generator.md), or through
``clients/run openapi-generator-python``::

    DATASET_API_URL=http://127.0.0.1:8000 DATASET_API_TOKEN=... \\
        .venv-clients/bin/python clients/openapi-generator/python/e2e.py --out /tmp/og-python

Exit 0: everything held; 1: a check failed (the message says which); 2: bad invocation.
"""

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import generate as og  # noqa: E402 - clients/openapi-generator/generate.py

PACKAGE = "openapi_client"  # the generator's default packageName
ADMIN_ACCOUNT_ID = 1


class Failure(Exception):
    """A check that did not hold: the message says what was expected and what came back."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def step(title):
    print(f"== {title}", flush=True)


def check_requirements(client_dir):
    """The generated requirements.txt is satisfied by this venv (no download needed)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet",
                           "-r", str(client_dir / "requirements.txt")], capture_output=True, text=True)
    check(proc.returncode == 0, "this venv does not satisfy the generated requirements.txt "
          f"({(client_dir / 'requirements.txt').read_text().strip()!r}): install "
          f"clients/openapi-generator/requirements.txt\n{proc.stdout}{proc.stderr}")
    print("the venv satisfies the generated requirements.txt", flush=True)


def import_everything(client_dir):
    sys.path.insert(0, str(client_dir))
    importlib.invalidate_caches()
    package = importlib.import_module(PACKAGE)
    where = Path(package.__file__).resolve()
    check(client_dir.resolve() in where.parents, f"imported {PACKAGE} from {where}, not from {client_dir}")
    failures, count = [], 0
    for module in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        count += 1
        try:
            importlib.import_module(module.name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then the run fails
            failures.append(f"  {module.name}: {type(exc).__name__}: {exc}")
    if failures:
        raise Failure(f"{len(failures)} of {count} generated modules do not import:\n" + "\n".join(failures))
    print(f"all {count} generated modules import", flush=True)


# ---------------------------------------------------------------------------------------------
# the first session


def run_session(url, token):
    import openapi_client as oc
    from openapi_client import models as m

    configuration = oc.Configuration(host=url, access_token=token)
    api = oc.ApiClient(configuration)
    projects, datasets, entries = oc.ProjectsApi(api), oc.DatasetsApi(api), oc.EntriesApi(api)

    def call(what, fn, *args, status=200, **kwargs):
        """The generated ``*_with_http_info`` call: its typed body when the status is ``status``."""
        try:
            response = fn(*args, **kwargs)
        except oc.ApiException as exc:
            raise Failure(f"{what}: HTTP {exc.status}: {(exc.body or '')[:2000]}") from None
        print(f"   {what} -> {response.status_code}", flush=True)
        check(response.status_code == status, f"{what}: expected HTTP {status}, got {response.status_code}")
        return response.data

    step("health")
    health = call("getHealth", oc.OperationsApi(api).get_health_with_http_info)
    check(health is not None, "getHealth: no body")

    step("a project")
    body = m.ProjectCreate(data=m.ProjectCreateData(
        type=m.ProjectType.DATASET_COLON_PROJECTS,
        attributes=m.ProjectCreateAttributes(name="Birds", organization_id=1)))
    project = call("createProject", projects.create_project_with_http_info, body, status=201).data
    check(project.attributes.name == "Birds", f"createProject: name {project.attributes.name!r}")

    step("a dataset in it")
    body = m.DatasetCreate(data=m.DatasetCreateData(
        type=m.DatasetType.DATASET_COLON_DATASETS,
        attributes=m.DatasetCreateAttributes(project_id=project.id, name="Photos", modality="image",
                                             labels=["bird"])))
    dataset = call("createDataset", datasets.create_dataset_with_http_info, body, status=201).data
    check(str(dataset.attributes.project_id) == project.id,
          f"createDataset: project_id {dataset.attributes.project_id} is not the project {project.id}")
    check(dataset.attributes.labels == ["bird"], f"createDataset: labels {dataset.attributes.labels!r}")

    step("a JSON filter: filter[workflow_configuration] (JSON text in a string parameter)")
    for wanted, expected in (({"type": "simple_review"}, [dataset.id]),
                             ({"type": "simple_review", "sample_rate": 0.5}, [])):
        found = call("listDatasets", datasets.list_datasets_with_http_info, filter_project_id=project.id,
                     filter_workflow_configuration=json.dumps(wanted)).data
        check([d.id for d in found] == expected,
              f"filter[workflow_configuration]={json.dumps(wanted)}: {[d.id for d in found]}, "
              f"expected {expected}")

    step("three entries")
    created = {}
    for i in (1, 2, 3):
        body = m.EntryCreate(data=m.EntryCreateData(
            type=m.EntryType.DATASET_COLON_ENTRIES,
            attributes=m.EntryCreateAttributes(dataset_id=dataset.id, resource=f"s3://birds/{i}.jpg",
                                               priority=i)))
        entry = call(f"createEntry {i}", entries.create_entry_with_http_info, body, status=201).data
        check((entry.attributes.wf_step, entry.attributes.status) == ("annotate", "pending"),
              f"createEntry {i}: {entry.attributes.wf_step}/{entry.attributes.status}, "
              "expected annotate/pending")
        created[i] = entry

    step("filtered list: priority >= 2, -priority, count, included dataset + dataset.project")
    listing = call("listEntries", entries.list_entries_with_http_info, filter_dataset_id=dataset.id,
                   filter_priority__gte=2, sort="-priority", count="true",
                   included=["dataset", "dataset.project"])
    check(listing.meta.count == 2, f"listEntries: meta.count {listing.meta.count!r}, expected 2")
    check([e.id for e in listing.data] == [created[3].id, created[2].id],
          f"listEntries: {[e.attributes.resource for e in listing.data]}, expected entries 3 then 2")
    included = [item.actual_instance for item in listing.included or []]
    kinds = sorted((type(r).__name__, r.id) for r in included)
    check(kinds == sorted([("Dataset", dataset.id), ("Project", project.id)]),
          f"listEntries: included {kinds}, expected the dataset and its project once each")
    included_dataset = next(r for r in included if isinstance(r, m.Dataset))
    included_project = next(r for r in included if isinstance(r, m.Project))
    check((included_dataset.attributes.name, included_dataset.attributes.labels,
           included_dataset.attributes.modality) == ("Photos", ["bird"], "image")
          and included_project.attributes.name == "Birds",
          "listEntries: the included dataset and project lost attributes: "
          f"{included_dataset.to_dict()} {included_project.to_dict()}")

    step("GET /entries/next claims the highest priority entry")
    claimed = call("claimNextEntry", entries.claim_next_entry_with_http_info,
                   filter_dataset_id=dataset.id).data
    check(claimed.id == created[3].id,
          f"claimNextEntry: claimed {claimed.attributes.resource}, expected entry 3")
    check((claimed.attributes.wf_step, claimed.attributes.status, claimed.attributes.assigned_to_id)
          == ("annotate", "in_progress", ADMIN_ACCOUNT_ID),
          f"claimNextEntry: {claimed.attributes.to_dict()}")

    rpc_session(api, m, claimed.id)

    step("submit at annotate (sample_rate 1: every submitted entry goes to review)")
    submitted = call("submitEntry", entries.submit_entry_with_http_info, claimed.id).data
    check(submitted.attributes.wf_step == "review", f"submitEntry: wf_step {submitted.attributes.wf_step!r}")

    step("review: select, then submit approved=true")
    selected = call("selectEntry", entries.select_entry_with_http_info, claimed.id).data
    check(selected.attributes.assigned_to_id == ADMIN_ACCOUNT_ID,
          f"selectEntry: {selected.attributes.to_dict()}")
    approved = m.SubmitRequest(data=m.SubmitRequestData(
        attributes=m.SubmitRequestDataAttributes(approved=True)))
    done = call("submitEntry approved", entries.submit_entry_with_http_info, claimed.id,
                submit_request=approved).data
    check((done.attributes.wf_step, done.attributes.status) == ("done", "completed"),
          f"submitEntry approved: {done.attributes.to_dict()}")

    step("import two entries, one with a pre-annotation (NDJSON lines from the generated ImportLine)")
    # The generated import_dataset_entries takes List[ImportLine] but its REST layer serialises only
    # JSON-typed bodies: for application/x-ndjson it raises "Cannot prepare a request message".
    # So the lines go through the client's own transport (param_serialize / call_api /
    # response_deserialize), the response parsed into the generated ImportResult.
    lines = [m.ImportLine(resource="s3://birds/4.jpg", priority=4),
             m.ImportLine(resource="s3://birds/5.jpg", annotations=[m.ImportAnnotation(
                 dimensions={"x": 1, "y": 2, "w": 3, "h": 4}, annotation={"label": "bird"})])]
    ndjson = "".join(line.to_json() + "\n" for line in lines)
    request = api.param_serialize(method="POST", resource_path="/datasets/{id}/import",
                                  path_params={"id": dataset.id}, header_params={
                                      "Content-Type": "application/x-ndjson",
                                      "Accept": "application/vnd.api+json"},
                                  body=ndjson, auth_settings=["bearerAuth"])
    raw = api.call_api(*request)
    raw.read()
    result = api.response_deserialize(response_data=raw, response_types_map={"200": "ImportResult"}).data
    check(isinstance(result, m.ImportResult) and (result.meta.created, result.meta.skipped) == (2, 0),
          f"importDatasetEntries: {result!r}")
    print(f"   importDatasetEntries -> {raw.status}", flush=True)

    step("export as NDJSON, each line parsed by the generated ExportLine")
    # export_dataset_entries's typed form cannot read application/x-ndjson ("Unsupported content type");
    # its generated *_without_preload_content form hands back the response to read line by line.
    response = datasets.export_dataset_entries_without_preload_content(dataset.id, format="jsonl")
    check(response.status == 200, f"exportDataset: HTTP {response.status}: {response.data[:300]!r}")
    exported = [m.ExportLine.from_json(line) for line in response.data.decode().splitlines() if line]
    print(f"   exportDataset -> {response.status}, {len(exported)} lines", flush=True)
    check(sorted(e.resource for e in exported) == [f"s3://birds/{i}.jpg" for i in range(1, 6)],
          f"exportDataset: {[e.resource for e in exported]}")
    done_line = next(e for e in exported if str(e.id) == claimed.id)
    check(done_line.wf_step == "done" and len(done_line.annotations or []) == 1,
          f"exportDataset: the reviewed entry's line {done_line.to_dict()}")

    step("read back: the dataset counts 5 entries, 1 completed")
    counted = call("getDataset", datasets.get_dataset_with_http_info, dataset.id).data.attributes
    check((counted.entries_total_count, counted.entries_completed_count) == (5, 1),
          f"getDataset: total {counted.entries_total_count}, completed {counted.entries_completed_count}")
    api.close() if hasattr(api, "close") else None


def rpc_session(api, m, entry_id):
    """One JSON-RPC call (create) on POST /annotations/_rpc, then one batch (update + index) on
    POST /annotations/_rpc/batch, typed by the generated RpcRequest/RpcAnswer and RpcCall/RpcReply."""
    import openapi_client as oc

    annotations = oc.AnnotationsApi(api)

    def rpc(what, fn, body):
        try:
            response = fn(body)
        except oc.ApiException as exc:
            raise Failure(f"{what}: HTTP {exc.status}: {(exc.body or '')[:2000]}") from None
        print(f"   {what} -> {response.status_code}", flush=True)
        check(response.status_code == 200, f"{what}: HTTP {response.status_code}")
        return response.data

    step("JSON-RPC call on POST /annotations/_rpc: create a box on the claimed entry")
    box = {"x": 10, "y": 20, "w": 50, "h": 40}
    answer = rpc("callAnnotationsRpc create", annotations.call_annotations_rpc_with_http_info, m.RpcRequest(
        jsonrpc="2.0", method="create", id=1,
        params=m.RpcParams(entry_id=entry_id, dimensions=box, annotation={"label": "bird"})))
    check(isinstance(answer, m.RpcAnswer) and answer.error is None and answer.id == 1,
          f"callAnnotationsRpc create: {answer!r}")
    created = answer.result
    check(isinstance(created, m.RpcResult) and str(created.entry_id) == entry_id
          and created.dimensions == box and created.annotation == {"label": "bird"},
          f"callAnnotationsRpc create: result {created!r}")

    step("JSON-RPC batch on POST /annotations/_rpc/batch: update the box, then index the entry's")
    moved = {"x": 12, "y": 20, "w": 48, "h": 40}
    replies = rpc("callAnnotationsRpcBatch", annotations.call_annotations_rpc_batch_with_http_info, [
        m.RpcCall(jsonrpc="2.0", method="update", id=1,
                  params=m.RpcParams(id=str(created.id), dimensions=moved)),
        m.RpcCall(jsonrpc="2.0", method="index", id="two",
                  params=m.RpcParams(filter={"entry_id": entry_id}))])
    check(all(isinstance(r, m.RpcReply) for r in replies) and [r.id for r in replies] == [1, "two"],
          f"callAnnotationsRpcBatch: {replies!r}")
    errors = [r.error.to_dict() for r in replies if r.error is not None]
    check(not errors, f"callAnnotationsRpcBatch: calls failed: {errors}")
    updated, listed = replies[0].result, replies[1].result
    check(updated.id == created.id and updated.dimensions == moved, f"update: result {updated!r}")
    check([a.id for a in listed.data] == [created.id] and listed.data[0].dimensions == moved,
          f"index: result {listed!r}")


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "generated",
                        help="folder for the generated client (OUT/client) and its log")
    parser.add_argument("--no-generate", action="store_true", help="reuse the client already in OUT/client")
    args = parser.parse_args(argv)
    url = os.environ.get("DATASET_API_URL", "").rstrip("/")
    token = os.environ.get("DATASET_API_TOKEN", "")
    if not url or not token:
        print("e2e.py: set DATASET_API_URL and DATASET_API_TOKEN (an admin token)", file=sys.stderr)
        return 2
    client_dir = args.out.resolve() / "client"
    started = time.monotonic()
    try:
        problems = []
        if not args.no_generate:
            step(f"generate from {url}/openapi.json")
            problems = og.generate("python", client_dir, url=url)
        step("requirements and imports")
        try:  # even after a generator problem: report every problem of the document in one run
            check_requirements(client_dir)
            import_everything(client_dir)
        except Failure as exc:
            if not problems:
                raise
            problems.append(f"and {exc}")
        if problems:
            raise Failure("the generator's output has problems:\n" + "\n".join(problems))
        run_session(url, token)
    except Failure as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - an unexpected exception is a failure with its traceback
        print("\nFAILED with an unexpected exception:", file=sys.stderr)
        traceback.print_exc()
        return 1
    print(f"\nOK: the generated client drove the whole first session ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
