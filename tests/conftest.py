"""Fixtures: a fresh app and database per test (SQLite file, or PostgreSQL when
DATASET_API_TEST_DATABASE_URL is set), tokens, and an ``api`` client that checks every
response against the JSON:API 1.0 schema. Also how a run is made (README, "The two commands"):
which suites it leaves out and names at its end, and how many processes run it (pytest-xdist)."""

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest

from dataset_api import migrations
from dataset_api.app import configure, create_app
from dataset_api.auth import tokens
from dataset_api.config import Config
from dataset_api.db import db
from dataset_api.models import MODELS

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
CURSOR_KEY = "test-cursor-key-0123456789abcdef"  # every test app's, as SECRET is
# Under pytest-xdist each worker (gw0, gw1...) has a PostgreSQL database of its own beside the one
# named, "<name>_gw0"..., created and dropped by ``fresh_postgres_schema``; the variable is rewritten
# before anything reads it, so the live servers a worker starts use its database too.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
BASE_PG_URL = os.environ.get("DATASET_API_TEST_DATABASE_URL", "")
if BASE_PG_URL and WORKER:
    _base = urlparse(BASE_PG_URL)
    os.environ["DATASET_API_TEST_DATABASE_URL"] = _base._replace(path=f"{_base.path}_{WORKER}").geturl()
PG_URL = os.environ.get("DATASET_API_TEST_DATABASE_URL", "")
MEDIA = "application/vnd.api+json"


def _jsonapi_validator():
    schema = json.loads((Path(__file__).parent / "data" / "jsonapi-1.0-schema.json").read_text())
    text = json.dumps(schema)
    # our types are namespaced (dataset:entries): allow ':' in member names and types
    text = text.replace(r"(?:[-\\w]*[a-zA-Z0-9])", r"(?:[-\\w:]*[a-zA-Z0-9])")
    # jsonschema treats the pattern "" as no pattern at all; ".*" means what the schema says
    text = text.replace('"patternProperties": {"": ', '"patternProperties": {".*": ')
    schema = json.loads(text)
    return jsonschema.validators.validator_for(schema)(schema)


JSONAPI = _jsonapi_validator()


def make_config(tmp_path, **overrides):
    overrides = {"cursor_key": CURSOR_KEY, "validate_responses": True, **overrides}
    return Config(data_dir=str(tmp_path), database_url=PG_URL, jwt_secret=SECRET, **overrides)


def reset_database(config):
    """Give the test an empty schema: migrate, then empty every table."""
    from dataset_api.db import bind

    database = bind(config.db_url)
    migrations.migrate(database)
    if PG_URL:
        with database.connection_context():
            tables = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
            database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    database.close_all()


@contextmanager
def worker_database():
    """Under pytest-xdist on PostgreSQL: create this worker's database (PG_URL), drop it afterwards."""
    if not (PG_URL and PG_URL != BASE_PG_URL):
        yield
        return
    import psycopg2

    name = urlparse(PG_URL).path.lstrip("/")
    admin = psycopg2.connect(urlparse(PG_URL)._replace(path="/postgres").geturl())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a killed run's
            cur.execute(f'CREATE DATABASE "{name}"')
        yield
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session", autouse=True)
def fresh_postgres_schema():
    """On PostgreSQL, start the run from an empty schema so migrations run as on a new server."""
    with worker_database():
        if PG_URL:
            from dataset_api.db import make_database

            database = make_database(PG_URL)
            with database.connection_context():
                names = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
                database.execute_sql(f"DROP TABLE IF EXISTS {names}, schema_migrations CASCADE")
            database.close_all()
        yield


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


_BUILT = {}


@contextmanager
def app_client(directory, **overrides):
    """A test client of an app built for a configuration of its own (``overrides``: limits, keys),
    over an empty database in ``directory`` (or the PostgreSQL test database)."""
    config = make_config(directory, **overrides)
    reset_database(config)
    try:
        with create_app(config).test_client() as client:
            yield client
    finally:
        db.obj.close_all()


@pytest.fixture
def app(config):
    """The app over an empty database of its own. Building the app from openapi.yaml takes a
    second or two, so it is built once and re-pointed (``configure``) at each test's database;
    it keeps the settings it was built with, which every test's ``config`` shares (the secret, the
    limits). A test that needs other settings builds its own app (``app_client``)."""
    reset_database(config)
    if "app" in _BUILT:
        configure(config)
    else:
        _BUILT["app"] = create_app(config)
    yield _BUILT["app"]
    db.obj.close_all()


def token(account_id=1, email="admin@example.com", role="admin", orgs=(), **kw):
    return tokens.issue(SECRET, account_id=account_id, email=email, role=role, orgs=orgs, **kw)


class Api:
    """A test client speaking JSON:API with a token; every JSON:API body is schema-checked."""

    def __init__(self, client, bearer):
        self.client = client
        self.bearer = bearer

    def headers(self, extra=None):
        base = {"Accept": MEDIA}
        if self.bearer:
            base["Authorization"] = f"Bearer {self.bearer}"
        return {**base, **(extra or {})}

    def request(self, method, path, body=None, headers=None, raw=None, **kw):
        hdrs = self.headers(headers)
        content = raw
        if body is not None:
            content = json.dumps(body)
            hdrs.setdefault("Content-Type", MEDIA)
        resp = self.client.request(method, path, content=content, headers=hdrs, **kw)
        if resp.content and resp.headers.get("content-type", "").startswith(MEDIA):
            errors = sorted(JSONAPI.iter_errors(resp.json()), key=str)
            assert not errors, f"not JSON:API: {errors[0].message} in {resp.text[:500]}"
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create(self, res, relationships=None, **attributes):
        """POST a resource of type ``res`` (bare plural) and return its resource object."""
        data = {"type": f"dataset:{res}", "attributes": attributes}
        if relationships:
            data["relationships"] = relationships
        resp = self.post(f"/{res}", {"data": data})
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]


@pytest.fixture
def client(app):
    with app.test_client() as c:
        yield c


@pytest.fixture
def api(client):
    return Api(client, token())


@pytest.fixture
def anon(client):
    return Api(client, None)


@pytest.fixture
def tree(api):
    """A project with one dataset, three entries and an annotation on the first entry."""
    from tests import factories  # factories builds on this module's Api

    return factories.tree(api)


# --- suites: the slow ones stay out of the default run, and say how to run them ------------------

SLOW = "(slow suite)"  # how a marker's description in pyproject.toml marks a suite left out by default
# after SLOW, a suite that must have the machine to itself: it kills processes or budgets its time,
# so a run that can select it runs in one process (no pytest-xdist workers)
ALONE = "(alone)"
LEFT_OUT = pytest.StashKey[dict]()
MAX_WORKERS = 4  # pytest-xdist workers at most (each holds a few hundred MB)


def _suites(config):
    """{marker: (description, alone)} of the markers pyproject.toml describes as "(slow suite) ..."."""
    suites = {}
    for line in config.getini("markers"):
        name, _, description = line.partition(":")
        description = description.strip()
        if description.startswith(SLOW):
            description = description[len(SLOW):].strip()
            alone = description.startswith(ALONE)
            suites[name.split("(")[0].strip()] = (description.removeprefix(ALONE).strip(), alone)
    return suites


def slow_suites(config):
    """{marker: description} of the slow suites."""
    return {name: description for name, (description, _) in _suites(config).items()}


def _selects_a_suite_run_alone(config):
    """True when ``-m`` may select a test of a suite that must run alone."""
    from _pytest.mark.expression import Expression

    if not config.option.markexpr:
        return False  # without -m the slow suites are left out (unless named, see _names_files)
    expression = Expression.compile(config.option.markexpr)
    return any(expression.evaluate(lambda name, /, suite=suite, **kwargs: name == suite)
               for suite, (_, alone) in _suites(config).items() if alone)


def _names_files(config):
    """True when the command line names test files or tests (not only folders)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    return any(not (config.invocation_params.dir / arg.split("::")[0]).is_dir() for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """How many processes run the tests (pytest-xdist) unless the command line says (``-n``, or
    ``-p no:xdist``): one per core, at most MAX_WORKERS, for the whole tree or a selection by marker;
    one process when the run names test files, or when its ``-m`` may select a suite that must run
    alone (its marker's description: "(slow suite) (alone) ...")."""
    if (not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput")
            or config.option.numprocesses is not None or config.option.collectonly):
        return
    if _names_files(config) or _selects_a_suite_run_alone(config):
        return
    config.option.numprocesses = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    if config.option.numprocesses < 2:
        config.option.numprocesses = None


def pytest_configure(config):
    from tests import live

    worker = getattr(config, "workerinput", {}).get("workerid")

    def say(line):
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            return
        with capture.global_and_fixture_disabled():
            if worker:  # a pytest-xdist worker's terminal is not shown; its stderr is the controller's
                sys.__stderr__.write(f"\n[{worker}] {line}\n")
                sys.__stderr__.flush()
            elif terminal is not None:
                terminal.write_line(line)

    live.say = say


def pytest_collection_modifyitems(config, items):
    """Without ``-m``, leave out the slow suites' tests, unless their file is named on the command line."""
    if config.option.markexpr:
        return
    suites = slow_suites(config)
    named = {(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args}
    kept, left = [], {}
    for item in items:
        suite = next((mark.name for mark in item.iter_markers() if mark.name in suites), None)
        if suite and item.path not in named:
            left.setdefault(suite, []).append(item)
        else:
            kept.append(item)
    if left:
        config.hook.pytest_deselected(items=[item for group in left.values() for item in group])
        items[:] = kept
    config.stash[LEFT_OUT] = {suite: len(group) for suite, group in left.items()}
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller prints the summary
        config.workeroutput["left_out"] = config.stash[LEFT_OUT]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: what the workers left out (each collects every test)."""
    left = getattr(node, "workeroutput", {}).get("left_out")
    if left:
        node.config.stash[LEFT_OUT] = left


def pytest_terminal_summary(terminalreporter, config):
    """Name each suite the run left out, with the command that runs it (README, "The two commands")."""
    left = config.stash.get(LEFT_OUT, {})
    if not left:
        return
    suites = slow_suites(config)
    terminalreporter.section("slow suites left out of this run (README: The two commands)")
    for suite, count in left.items():
        command = f"python -m pytest -m {suite}  (or tox -e {suite})"
        terminalreporter.write_line(f"{suite} ({count} tests): {command}")
        terminalreporter.write_line(f"    {suites[suite]}")
