"""A resource added from the test suite alone (tests/labels: its module, its migration, its spec
fragment) works like the built-in ones over HTTP: CRUD, filters, sort, sparse fieldsets, includes,
permissions, conflicts. And a declaration that misses a piece stops start-up, naming it."""

import sys

import pytest
import yaml

from dataset_api import cli, migrations, registry, spec
from dataset_api.app import create_app
from dataset_api.config import Config
from dataset_api.db import db
from tests.conftest import PG_URL, Api, make_config, reset_database, token
from tests.labels import migration
from tests.labels.resource import LABELS

FRAGMENT = migration.__file__.replace("migration.py", "openapi.yaml")
# Importing the module declares labels; they stay declared only while a test here serves them, so
# that suites which walk every declared resource (at collection too) see the service's own.
registry.unregister(LABELS)


def merged_spec(path, edit=lambda fragment: None):
    """openapi.yaml with the labels fragment's paths and components added (``edit`` first)."""
    document = spec.document()
    fragment = yaml.safe_load(open(FRAGMENT, encoding="utf-8"))
    edit(fragment)
    merged = {**document, "paths": {**document["paths"], **fragment["paths"]}}
    ours, theirs = document["components"], fragment["components"]
    merged["components"] = {kind: {**ours.get(kind, {}), **theirs.get(kind, {})} for kind in {*ours, *theirs}}
    path.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def labels_api(tmp_path, monkeypatch):
    registry.register(LABELS)
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, (migration.VERSION, migration.NAME, migration.up)])
    config = make_config(tmp_path, spec_path=str(merged_spec(tmp_path / "openapi.yaml")),
                         resource_modules=("tests.labels.resource",))
    reset_database(config)
    try:
        with create_app(config).test_client() as client:
            yield lambda bearer=None: Api(client, bearer or token())
    finally:
        with db.connection_context():
            migration.down(db)
            db.execute_sql(f"DELETE FROM schema_migrations WHERE version = {migration.VERSION}")
        db.obj.close_all()
        registry.unregister(LABELS)


def _world(api):
    project = api.create("projects", name="Birds", organization_id=7)
    datasets = [api.create("datasets", project_id=project["id"], name=f"Photos {i}", modality="image")
                for i in range(2)]
    return project, datasets


def test_crud_filters_sort_fields_and_includes(labels_api):
    api = labels_api()
    project, (photos, sketches) = _world(api)
    names = ["sparrow", "swift", "crow"]
    made = [api.create("labels", dataset_id=photos["id"], name=n, color="red" if n != "crow" else None)
            for n in names]
    sketched = api.create("labels", dataset_id=sketches["id"], name="sparrow")
    first = made[0]
    assert first["type"] == "dataset:labels"
    assert first["attributes"]["project_id"] == project["id"]  # derived from the dataset
    assert first["attributes"]["created_by_email"] == "admin@example.com"  # stamped by the rule

    listed = api.get(f"/labels?filter[dataset_id]={photos['id']}&filter[name__prefix]=s&sort=-name"
                     "&fields[dataset:labels]=name&count=true").json()
    assert [r["attributes"] for r in listed["data"]] == [{"name": "swift"}, {"name": "sparrow"}]
    assert listed["meta"]["count"] == 2
    uncoloured = api.get("/labels?filter[color__exists]=false").json()["data"]
    assert sorted(r["id"] for r in uncoloured) == sorted([made[2]["id"], sketched["id"]])

    shown = api.get(f"/labels/{first['id']}?included=dataset.project").json()
    assert sorted((r["type"], r["id"]) for r in shown["included"]) == [
        ("dataset:datasets", photos["id"]), ("dataset:projects", project["id"])]
    assert shown["data"]["relationships"]["dataset"]["data"] == {"type": "dataset:datasets",
                                                                 "id": photos["id"]}
    assert api.get("/labels?included=entries").status_code == 400  # not an include path of labels

    changed = api.patch(f"/labels/{first['id']}", {"data": {"type": "dataset:labels", "id": first["id"],
                                                            "attributes": {"color": "blue"}}})
    assert changed.status_code == 200 and changed.json()["data"]["attributes"]["color"] == "blue"
    stale = api.delete(f"/labels/{first['id']}", headers={"If-Match": f'"{first["id"]}.1"'})
    assert stale.status_code == 412
    assert api.delete(f"/labels/{first['id']}").status_code == 204
    assert api.get(f"/labels/{first['id']}").status_code == 404


def test_rules_conflicts_and_missing_parents(labels_api):
    api = labels_api()
    _, (photos, _) = _world(api)
    api.create("labels", dataset_id=photos["id"], name="sparrow")
    again = api.post("/labels", {"data": {"type": "dataset:labels",
                                          "attributes": {"dataset_id": photos["id"], "name": "sparrow"}}})
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "duplicate"
    assert again.json()["errors"][0]["detail"] == "This dataset already has a label of that name."
    orphan = api.post("/labels", {"data": {"type": "labels",
                                           "attributes": {"dataset_id": "0" * 36, "name": "x"}}})
    assert orphan.status_code == 404
    assert orphan.json()["errors"][0]["source"]["pointer"] == "/data/attributes/dataset_id"


def test_permissions_follow_the_declaration(labels_api):
    admin = labels_api()
    project, (photos, _) = _world(admin)
    label = admin.create("labels", dataset_id=photos["id"], name="sparrow")
    admin.create("project_members", project_id=project["id"], account_id=51, email="ann@example.com",
                 role="annotator")
    annotator = labels_api(token(account_id=51, email="ann@example.com", role="user"))
    outsider = labels_api(token(account_id=801, email="owner@org8.example", role="org_owner", orgs=(8,)))
    owner = labels_api(token(account_id=700, email="owner@org7.example", role="org_owner", orgs=(7,)))

    # read scope: members of the project read its labels; another organization sees none
    assert [r["id"] for r in annotator.get("/labels").json()["data"]] == [label["id"]]
    assert outsider.get("/labels").json()["data"] == []
    assert outsider.get(f"/labels/{label['id']}").status_code == 404
    # write: owners only ("owner" for create, update and delete)
    body = {"data": {"type": "dataset:labels", "attributes": {"dataset_id": photos["id"], "name": "owl"}}}
    assert annotator.post("/labels", body).status_code == 403
    assert annotator.delete(f"/labels/{label['id']}").status_code == 403
    assert outsider.post("/labels", body).status_code == 404  # the dataset does not exist for them
    assert owner.post("/labels", body).status_code == 201
    assert owner.delete(f"/labels/{label['id']}").status_code == 204


# --- a declaration that misses a piece stops start-up -------------------------------------------------

MISSING = ["widgets: no read scope (visible)", "widgets: no create rule (before_create)",
           "widgets: no write permission for 'update' (write)",
           "widgets: no write permission for 'delete' (write)"]


@pytest.fixture
def incomplete(tmp_path):
    sys.modules.pop("tests.labels.incomplete", None)
    try:
        yield Config(data_dir=str(tmp_path), database_url=PG_URL,
                     resource_modules=("tests.labels.incomplete",))
    finally:
        registry.unregister(registry.RESOURCES.get("widgets") or LABELS)


def test_an_incomplete_resource_stops_the_app_factory(incomplete):
    with pytest.raises(registry.IncompleteResource) as stopped:
        create_app(incomplete)
    for line in MISSING:
        assert line in str(stopped.value)


def test_an_incomplete_resource_stops_serve_before_it_listens(incomplete, monkeypatch):
    monkeypatch.setattr(Config, "from_env", classmethod(lambda cls, env=None, **kw: incomplete))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--port", "1"])
    assert str(stopped.value).startswith("dataset-api: incomplete resource declarations:")
    for line in MISSING:
        assert line in str(stopped.value)


def test_a_declaration_the_contract_contradicts_stops_the_app_factory(tmp_path):
    def drop_color(fragment):
        del fragment["components"]["schemas"]["LabelAttributes"]["properties"]["color"]
        fragment["components"]["parameters"]["IncludedLabel"]["schema"]["items"]["enum"].remove("project")

    registry.register(LABELS)
    try:
        with pytest.raises(registry.IncompleteResource) as stopped:
            create_app(Config(data_dir=str(tmp_path), database_url=PG_URL,
                              spec_path=str(merged_spec(tmp_path / "openapi.yaml", drop_color))))
    finally:
        registry.unregister(LABELS)
    assert "labels: attributes [" in str(stopped.value) and "'color'" in str(stopped.value)
    assert ("labels: include paths ['dataset', 'dataset.project', 'project'] but openapi.yaml says "
            "['dataset', 'dataset.project']") in str(stopped.value)


@pytest.mark.parametrize("where", ["attributes", "relationships"])
def test_a_create_body_that_names_the_wrong_parent_stops_the_app_factory(tmp_path, where):
    """A create body names its parent as an attribute or a relationship, and its `not` refuses a
    body with neither: the start-up comparison checks that the `not` names the declared parent."""
    import copy

    document = copy.deepcopy(spec.document())
    neither = document["components"]["schemas"]["EntryCreateData"]["not"]["properties"][where]["not"]
    neither["required"] = ["project_id" if where == "attributes" else "project"]
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    with pytest.raises(registry.IncompleteResource) as stopped:
        create_app(Config(data_dir=str(tmp_path), database_url=PG_URL, spec_path=str(path)))
    assert ("entries: a new record names its parent as ['dataset_id'] or ['dataset'] but openapi.yaml's "
            "create body requires one of") in str(stopped.value)
