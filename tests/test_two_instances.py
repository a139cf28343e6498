"""Two ``dataset-api serve`` instances over one PostgreSQL database, clients split between them
(issue #10, docs/deploying.md): every guarantee of one instance holds across two. No entry is
handed out twice or lost, no acknowledged ``If-Match`` write is lost, the dataset counters equal
a recount after mixed workflow actions, and a token made with the shared secret works on both.

The instances start at the same moment, so both run the migrations at once (``serve`` migrates
before it forks): they must apply each migration once and both come up.

PostgreSQL only: SQLite is one file on one machine, which two hosts cannot share (docs/deploying.md).
Everything runs in a database of its own (``live_<random>``, dropped at the end).
"""

import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg2
import pytest

from dataset_api.events.worker import WORKER_CONNECTIONS
from dataset_api.migrations import MIGRATIONS
from tests import factories
from tests.live import (
    PG_URL,
    SECRET,
    Client,
    Server,
    claimers,
    dedicated_database,
    describe,
    drain,
    race,
    summarize,
)

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="two instances share one PostgreSQL database; SQLite is one file on one "
                       "machine (set DATASET_API_TEST_DATABASE_URL)")

CLI = Path(sys.executable).parent / "dataset-api"
ADMIN_IDS = (1, 2)  # one admin per instance
ANNOTATOR_IDS = range(3001, 3017)  # 16 annotators, split across the instances
REVIEWER_IDS = range(3101, 3105)
OWNER_IDS = range(3201, 3217)  # the If-Match writers: project owners
ENTRIES = 200
CURSOR_KEY = "two-instances-" + "k" * 32  # the deployment's key of page[cursor], on both
DEADLINE = 40  # seconds for one race, so a hung server fails the test instead of the run
MIX_SECONDS = 8  # how long the mixed workflow runs
START_SECONDS = 120  # to come up: two serves of two workers each build their apps at once
WORKERS, POOL_SIZE = 2, 4  # per instance; a small pool, so that requests queue for connections
# what docs/deploying.md says the instances use at most: their HTTP workers' pools, and each one's
# event delivery worker
MAX_CONNECTIONS = 2 * (WORKERS * POOL_SIZE + WORKER_CONNECTIONS)
COUNTERS = ("entries_total_count", "entries_completed_count", "entries_in_progress_count",
            "progress", "status")


@pytest.fixture(scope="session", autouse=True)
def fresh_postgres_schema():
    """Override conftest's: these tests run in their own database and leave the test one alone."""
    yield


# --- two instances, one database --------------------------------------------------------------------

@pytest.fixture(scope="module")
def database_url():
    with dedicated_database() as url:
        yield url


@pytest.fixture(scope="module")
def instances(tmp_path_factory, database_url):
    """Two ``serve``s of 2 workers each, their own data folders, the same database and secret,
    started together on an empty database: both migrate at once."""
    env = {"DATASET_API_PG_POOL_SIZE": str(POOL_SIZE), "DATASET_API_CURSOR_KEY": CURSOR_KEY}
    servers = [Server(tmp_path_factory.mktemp(f"instance{n}"), database_url, WORKERS, env) for n in (0, 1)]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: server.start(timeout=START_SECONDS), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


REFUSAL_LINE = re.compile(r" WARNING dataset_api \S+ \S+ -> 4\d\d ")  # a 4xx answered: expected in races


def logs(instances, lines=25):
    """Each instance's last log lines, without access lines and 4xx answers."""
    tails = []
    for n, server in enumerate(instances):
        kept = [line for line in server.log().splitlines()
                if "dataset_api.access" not in line and not REFUSAL_LINE.search(line)]
        tails.append(f"--- instance {n} ({server.url}), log tail:\n" + "\n".join(kept[-lines:]))
    return "\n".join(tails)


@contextmanager
def peak_connections(database_url):
    """Sample the database's client connections (its own left out) while the block runs; yield a
    list that holds the highest count afterwards."""
    peak, done = [0], threading.Event()

    def sample():
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                while not done.is_set():
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND pid <> pg_backend_pid()")
                    peak[0] = max(peak[0], cursor.fetchone()[0])
                    done.wait(0.05)
        finally:
            conn.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join(timeout=10)


def assert_no_server_errors(instances):
    for n, server in enumerate(instances):
        errors = server.error_lines()
        assert not errors, f"instance {n} logged errors:\n" + "\n".join(errors[:20])


@pytest.fixture(scope="module")
def admins(instances):
    clients = split(instances, ADMIN_IDS, role="admin")
    yield clients
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def project(admins):
    project = factories.project(admins[0], "Two instances", 1)
    team = [(a, "annotator") for a in ANNOTATOR_IDS] + [(r, "reviewer") for r in REVIEWER_IDS] + [
        (o, "project_owner") for o in OWNER_IDS]
    for n, (account_id, role) in enumerate(team):  # memberships written through both instances
        factories.member(admins[n % 2], project, account_id, role, email=f"u{account_id}@example.com")
    return project


def split(instances, account_ids, role="user"):
    """One client per account, every other one on the second instance."""
    return [Client(instances[n % 2], account_id, role) for n, account_id in enumerate(account_ids)]


@pytest.fixture
def annotators(instances, project):
    clients = split(instances, ANNOTATOR_IDS)
    yield clients
    for client in clients:
        client.close()


# --- the tests ------------------------------------------------------------------------------------

def test_concurrent_starts_apply_each_migration_once(instances, database_url):
    """Both instances came up (the fixture), the chain is recorded once, and the log lines say
    each migration was applied by one instance: the other waited on the migration lock, then
    found nothing to do."""
    applying = [line for server in instances for line in server.log().splitlines()
                if "applying migration" in line]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT version FROM schema_migrations ORDER BY version")
            versions = [v for (v,) in cursor.fetchall()]
    finally:
        conn.close()
    assert versions == [v for v, _, _ in MIGRATIONS], versions
    assert Counter(line.split("applying migration ")[1].split()[0] for line in applying) == {
        f"{v:04d}": 1 for v in versions}, ("each migration must be applied once by one of the two "
                                          "instances:\n" + "\n".join(applying) + "\n" + logs(instances))


def test_concurrent_migrate_commands_apply_each_migration_once():
    """Four ``dataset-api migrate`` at once on an empty database (a rollout where every host
    migrates): one applies the chain, the others find it applied; none fails."""
    with dedicated_database() as url:
        env = {"DATABASE_URL": url, "PATH": str(CLI.parent)}
        procs = [subprocess.Popen([CLI, "migrate"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(4)]
        outputs = [(proc.communicate(timeout=60)[0], proc.returncode) for proc in procs]
    failed = [out for out, rc in outputs if rc != 0]
    assert not failed, "a concurrent migrate failed:\n" + "\n---\n".join(failed)
    applied = [out for out, _ in outputs if re.search(r"^applied \d+ migration", out, re.MULTILINE)]
    assert len(applied) == 1, "exactly one migrate applies the chain:\n" + "\n---\n".join(
        out for out, _ in outputs)


def test_a_token_works_on_both_instances_only_with_the_shared_secret(instances, tmp_path):
    """A token from ``dataset-api token`` with the instances' secret is good on both; one made with
    a data folder's own generated secret (what each host makes when no secret is configured) on
    neither."""
    def token(env):
        base = {"PATH": str(CLI.parent), "DATASET_API_DATA_DIR": str(tmp_path / "cli")}
        return subprocess.run([CLI, "token", "--account-id", "1", "--email", "a@example.com",
                               "--role", "admin"], env={**base, **env}, check=True,
                              capture_output=True, text=True).stdout.strip()

    shared = token({"DATASET_API_JWT_SECRET": SECRET})
    own = token({})  # no secret configured: the data folder's generated one
    for n, server in enumerate(instances):
        for bearer, expected in ((shared, 200), (own, 401)):
            resp = httpx.get(f"{server.url}/projects", headers={"Authorization": f"Bearer {bearer}"})
            assert resp.status_code == expected, (
                f"instance {n}: {'shared' if bearer == shared else 'own'} secret -> "
                f"{resp.status_code} {resp.text[:300]}\n{server.log_tail()}")


def test_a_cursor_made_by_one_instance_is_followed_by_the_other(instances, admins, project):
    """With the deployment's cursor key on both, a walk by cursor can go from instance to instance
    page by page (a load balancer sends each request anywhere) and meets every entry once."""
    dataset = factories.dataset(admins[0], project, "Cursors across instances")
    made = [factories.entry(admins[n % 2], dataset, f"walk-{n:02d}.png")["id"] for n in range(7)]
    same_caller = split(instances, (ADMIN_IDS[0], ADMIN_IDS[0]), role="admin")  # one per instance
    try:
        path = f"/entries?filter[dataset_id]={dataset['id']}&sort=resource&page[cursor]=&page[size]=2"
        met, hop = [], 0
        while path:
            resp = same_caller[hop % 2].request("GET", path)
            assert resp.status_code == 200, f"instance {hop % 2}: {resp.text[:300]}"
            met += [obj["id"] for obj in resp.json()["data"]]
            path, hop = resp.json()["links"]["next"], hop + 1
        assert met == made and hop == 4
    finally:
        for client in same_caller:
            client.close()


def test_next_hands_out_every_entry_exactly_once_across_instances(instances, admins, project, annotators):
    dataset = factories.dataset(admins[0], project, "Queue", sample_rate=0)
    ids = {factories.entry(admins[i % 2], dataset, f"img-{i:03d}.png", priority=i % 5)["id"]
           for i in range(ENTRIES)}
    next_path = f"/entries/next?filter[dataset_id]={dataset['id']}"
    deadline = time.monotonic() + DEADLINE

    with peak_connections(instances[0].database_url) as peak:
        results = race(annotators, lambda client: drain(client, next_path, deadline, ENTRIES))

    owners = claimers(annotators, results)  # next may repeat the caller's own entry, never another's
    per_instance = Counter()
    for client, (claimed, _) in zip(annotators, results, strict=True):
        per_instance[client.http.base_url.port] += len(claimed)
    twice = {entry_id: sorted(who) for entry_id, who in owners.items() if len(who) > 1}
    assert not twice, (f"{len(twice)} entries handed out to several accounts (id: accounts): {twice}"
                       f"\n{logs(instances)}")
    problems = [p for _, found in results for p in found]
    assert not problems, (f"{len(problems)} unexpected responses:\n{summarize(problems)}\n"
                          f"first one: {problems[0]}\n{logs(instances)}")
    lost, unknown = ids - owners.keys(), owners.keys() - ids
    assert not lost, f"{len(lost)} of {ENTRIES} entries never handed out: {sorted(lost)[:10]}"
    assert not unknown, f"next handed out entries outside the dataset: {sorted(unknown)[:10]}"
    assert len(per_instance) == 2 and all(per_instance.values()), f"claims per port: {per_instance}"
    print(f"claims per instance port: {dict(per_instance)}; peak connections {peak[0]}")
    assert peak[0] <= MAX_CONNECTIONS, (
        f"{peak[0]} connections to the database, over (pool size x workers + the delivery worker's) "
        f"x instances = {MAX_CONNECTIONS}")

    for admin in admins:  # both instances read the same counters
        counts = admin.attributes(f"/datasets/{dataset['id']}")
        assert {k: counts[k] for k in COUNTERS} == {
            "entries_total_count": ENTRIES, "entries_completed_count": ENTRIES,
            "entries_in_progress_count": 0, "progress": 1.0, "status": "completed"}, counts
    resp = admins[1].request("GET", f"/entries?filter[dataset_id]={dataset['id']}&page[size]=1000")
    states = {e["id"]: (e["attributes"]["wf_step"], e["attributes"]["status"],
                        e["attributes"]["submitted_by_id"]) for e in resp.json()["data"]}
    wrong = {i: s for i, s in states.items() if s != ("done", "completed", *owners[i])}
    assert len(states) == ENTRIES and not wrong, f"entries not done by their claimer: {wrong}"
    assert_no_server_errors(instances)


def test_if_match_loses_no_acknowledged_update_across_instances(instances, admins, project):
    """Each of 16 owners (8 per instance) appends its own labels to one dataset's ``labels``, a
    read-modify-write: GET (ETag), PATCH with If-Match, and on 412 read again and retry. Every
    acknowledged PATCH is in the final list, and the version moved once per acknowledged PATCH."""
    dataset = factories.dataset(admins[0], project, "Labels", labels=["start"])
    path = f"/datasets/{dataset['id']}"
    rounds = 4
    before = etag_version(admins[1].request("GET", path))
    deadline = time.monotonic() + DEADLINE
    clients = split(instances, OWNER_IDS)

    def work(client):
        acknowledged, stale, problems = [], 0, []
        for k in range(rounds):
            label = f"owner{client.account_id}-{k}"
            while time.monotonic() < deadline:
                resp = client.request("GET", path)
                if resp.status_code != 200:
                    problems.append(describe(client, "GET", path, resp))
                    continue
                labels = resp.json()["data"]["attributes"]["labels"]
                body = {"data": {"type": "dataset:datasets", "id": dataset["id"],
                                 "attributes": {"labels": [*labels, label]}}}
                resp = client.http.patch(path, json=body, headers={"If-Match": resp.headers["ETag"]})
                if resp.status_code == 200:
                    acknowledged.append(label)
                    break
                if resp.status_code == 412:
                    stale += 1
                    continue
                problems.append(describe(client, "PATCH", path, resp))
                break
            else:
                problems.append(f"account {client.account_id}: {label} not written in {DEADLINE} s")
        return acknowledged, stale, problems

    try:
        results = race(clients, work)
    finally:
        for client in clients:
            client.close()

    problems = [p for _, _, found in results for p in found]
    assert not problems, (f"{len(problems)} unexpected responses:\n{summarize(problems)}\n"
                          f"first one: {problems[0]}\n{logs(instances)}")
    acknowledged = [label for labels, _, _ in results for label in labels]
    stale = sum(n for _, n, _ in results)
    print(f"{len(acknowledged)} acknowledged PATCHes, {stale} refused with 412 and retried")
    for n, admin in enumerate(admins):
        resp = admin.request("GET", path)
        labels = resp.json()["data"]["attributes"]["labels"]
        lost = sorted(set(acknowledged) - set(labels))
        assert not lost, f"instance {n}: {len(lost)} acknowledged labels lost: {lost}; stored: {labels}"
        assert sorted(labels) == sorted(["start", *acknowledged]), (
            f"instance {n}: stored labels differ from the acknowledged ones: {labels}")
        assert etag_version(resp) == before + len(acknowledged), (
            f"instance {n}: ETag {resp.headers['ETag']}: the version moved by "
            f"{etag_version(resp) - before}, not once per acknowledged PATCH ({len(acknowledged)})")
    assert_no_server_errors(instances)


def etag_version(resp):
    """The row version in an ETag (``"<id>.<version>"``, dataset_api/crud.py)."""
    return int(resp.headers["ETag"].strip('"').rpartition(".")[2])


# --- mixed workflow, then the counters against a recount -------------------------------------------

ACCEPTED = {  # what each move may answer when others race it; anything else is a finding
    "create": {201}, "next": {200, 404}, "submit": {200, 404, 409}, "error": {200, 404, 409},
    "select": {200, 404, 409}, "approve": {200, 404, 409}, "reject": {200, 404, 409},
    "skip": {200, 404, 409}, "delete": {204, 404, 409},  # skip: another owner may have handed it
    # back and a third deleted it since it was listed
}


class Mix:
    """The moves of the mixed workflow, each tallied by (move, status)."""

    def __init__(self, dataset):
        self.dataset_id = dataset["id"]
        self.tally, self.problems, self.lock = Counter(), [], threading.Lock()
        self.created = 0

    def move(self, client, kind, method, path, body=None):
        resp = client.request(method, path, body)
        with self.lock:
            self.tally[kind, resp.status_code] += 1
            if resp.status_code not in ACCEPTED[kind]:
                self.problems.append(f"{kind}: " + describe(client, method, path, resp))
        return resp

    def listed(self, client, **filters):
        query = "&".join([f"filter[dataset_id]={self.dataset_id}", "page[size]=20",
                          "sort=-priority,created_at", *(f"filter[{k}]={v}" for k, v in filters.items())])
        resp = client.request("GET", f"/entries?{query}")
        assert resp.status_code == 200, describe(client, "GET", "/entries", resp)
        return resp.json()["data"]

    def annotator(self, client, rng):
        """next, then submit (mostly), report an error, or keep the entry for the next round."""
        resp = self.move(client, "next", "GET", f"/entries/next?filter[dataset_id]={self.dataset_id}")
        if resp.status_code != 200:
            time.sleep(0.05)
            return
        entry_id, roll = resp.json()["data"]["id"], rng.random()
        if roll < 0.8:
            self.move(client, "submit", "POST", f"/entries/{entry_id}/submit", {"data": {"attributes": {}}})
        elif roll < 0.9:
            self.move(client, "error", "POST", f"/entries/{entry_id}/error",
                      {"data": {"attributes": {"message": "blurred"}}})

    def reviewer(self, client, rng):
        """Take a review (by next, or by selecting a waiting one), approve it or hand it back."""
        if rng.random() < 0.5:
            resp = self.move(client, "next", "GET", f"/entries/next?filter[dataset_id]={self.dataset_id}")
        else:
            waiting = self.listed(client, wf_step="review", assigned="false")
            if not waiting:
                time.sleep(0.05)
                return
            resp = self.move(client, "select", "GET", f"/entries/{rng.choice(waiting)['id']}/select")
        if resp.status_code != 200:
            time.sleep(0.05)
            return
        approved = rng.random() < 0.6
        self.move(client, "approve" if approved else "reject", "POST",
                  f"/entries/{resp.json()['data']['id']}/submit",
                  {"data": {"attributes": {"approved": approved}}})

    def owner(self, client, rng):
        """Add entries to the queue, hand in-progress ones back to it (skip), and delete pending
        ones: at the head of the queue, where ``next`` is claiming them (a delete must then
        refuse: 409), or the one just added."""
        with self.lock:
            self.created += 1
            n = self.created
        resp = self.move(client, "create", "POST", "/entries", {"data": {
            "type": "dataset:entries", "attributes": {"dataset_id": self.dataset_id,
                                                      "resource": f"late-{n:04d}.png",
                                                      "priority": rng.randint(0, 9)}}})
        busy = self.listed(client, status="in_progress")
        if busy:
            self.move(client, "skip", "PATCH", f"/entries/{rng.choice(busy)['id']}/assign",
                      {"data": {"type": "dataset:entries", "attributes": {"assigned_to_id": None}}})
        roll = rng.random()
        if roll < 0.4:
            head = self.listed(client, status="pending")[:3]
            if head:
                self.move(client, "delete", "DELETE", f"/entries/{rng.choice(head)['id']}")
        elif roll < 0.6 and resp.status_code == 201:
            self.move(client, "delete", "DELETE", f"/entries/{resp.json()['data']['id']}")
        time.sleep(0.02)


def counted(client, dataset_id, **filters):
    """``meta.count`` of the dataset's entries matching ``filters``."""
    query = "&".join([f"filter[dataset_id]={dataset_id}", "count=true", "page[size]=1",
                      *(f"filter[{k}]={v}" for k, v in filters.items())])
    resp = client.request("GET", f"/entries?{query}")
    assert resp.status_code == 200, resp.text
    return resp.json()["meta"]["count"]


def test_counters_equal_a_recount_after_mixed_workflow_on_both_instances(
        instances, admins, project, annotators, database_url):
    dataset = factories.dataset(admins[0], project, "Mixed", sample_rate=0.5)
    for i in range(60):
        factories.entry(admins[i % 2], dataset, f"img-{i:03d}.png", priority=i % 5)
    mix = Mix(dataset)
    reviewers = split(instances, REVIEWER_IDS)
    owners = split(instances, ADMIN_IDS, role="admin")
    moves = {id(c): move for clients, move in ((annotators, mix.annotator), (reviewers, mix.reviewer),
                                               (owners, mix.owner)) for c in clients}
    stop = []

    def work(client):
        move = moves[id(client)]
        rng = random.Random(client.account_id)
        deadline = time.monotonic() + MIX_SECONDS
        while time.monotonic() < deadline and not stop:
            move(client, rng)
            if len(mix.problems) > 20:
                stop.append(True)

    try:
        with peak_connections(database_url) as peak:
            race(annotators + reviewers + owners, work)
    finally:
        for client in reviewers + owners:
            client.close()

    tally = {f"{kind} {status}": n for (kind, status), n in sorted(mix.tally.items())}
    print(f"mixed workflow moves (move status: count): {tally}; peak connections {peak[0]}")
    assert not mix.problems, (f"{len(mix.problems)} unexpected responses:\n{summarize(mix.problems)}\n"
                              f"first one: {mix.problems[0]}\n{logs(instances)}")
    done = {kind for (kind, status), n in mix.tally.items() if status in (200, 201, 204)}
    assert done >= set(ACCEPTED), f"moves that never succeeded (the mix proved less): {set(ACCEPTED) - done}"
    assert peak[0] <= MAX_CONNECTIONS, (
        f"{peak[0]} connections to the database, over (pool size x workers + the delivery worker's) "
        f"x instances = {MAX_CONNECTIONS}")

    by_status = {s: counted(admins[0], dataset["id"], status=s)
                 for s in ("pending", "in_progress", "completed", "errored")}
    total = counted(admins[1], dataset["id"])
    assert sum(by_status.values()) == total, (by_status, total)
    finished = by_status["completed"] + by_status["errored"]
    expected = {
        "entries_total_count": total, "entries_completed_count": finished,
        "entries_in_progress_count": by_status["in_progress"],
        "progress": finished / total if total else 0.0,
        "status": ("completed" if total and finished == total
                   else "in_progress" if finished or by_status["in_progress"] else "pending")}
    shown = []
    for n, admin in enumerate(admins):
        attrs = admin.attributes(f"/datasets/{dataset['id']}")
        shown.append({k: attrs[k] for k in COUNTERS})
        assert shown[-1] == pytest.approx(expected), (
            f"instance {n}: the dataset's counters differ from a count of its entries "
            f"(by status: {by_status})\n{logs(instances)}")

    entries = admins[0].request("GET", f"/entries?filter[dataset_id]={dataset['id']}&page[size]=1000")
    odd = [(e["id"], a["wf_step"], a["status"], a["assigned_to_id"])
           for e in entries.json()["data"] for a in [e["attributes"]]
           if (a["status"] == "in_progress") != (a["assigned_to_id"] is not None and a["wf_step"] in
                                                 ("annotate", "review"))
           or (a["wf_step"] == "done") != (a["status"] == "completed")
           or (a["wf_step"] == "error") != (a["status"] == "errored")]
    assert not odd, f"entries whose step, status and assignee disagree: {odd[:10]}"

    env = {"DATABASE_URL": database_url, "PATH": str(CLI.parent)}
    recount = subprocess.run([CLI, "recount", "--dataset-id", dataset["id"]], capture_output=True,
                             text=True, timeout=60, env=env)
    assert recount.returncode == 0 and "recounted 1 dataset(s)" in recount.stdout, (
        recount.stdout + recount.stderr)
    for n, admin in enumerate(admins):
        attrs = admin.attributes(f"/datasets/{dataset['id']}")
        assert {k: attrs[k] for k in COUNTERS} == shown[n], (
            f"instance {n}: dataset-api recount changed the counters")
    assert_no_server_errors(instances)
