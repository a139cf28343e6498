"""Races on the entry workflow (DESIGN §4) over real HTTP: ``dataset-api serve`` with 2 workers and
16 clients, each with its own keep-alive connection and its own annotator account.

SQLite by default; PostgreSQL when DATASET_API_TEST_DATABASE_URL is set, in a database of its own
(``races_<random>``, dropped at the end) so the shared test database is never touched.
"""

import os
import time
from collections import Counter, defaultdict
from contextlib import nullcontext

import pytest

from tests import factories
from tests.live import (
    RACE_DEADLINE,
    Client,
    Server,
    claimers,
    dedicated_database,
    describe,
    drain,
    race,
    summarize,
)

PG_URL = os.environ.get("DATASET_API_TEST_DATABASE_URL", "")
CLIENTS = 16
ENTRIES = 200
ADMIN_ID = 1
ANNOTATOR_IDS = range(1001, 1001 + CLIENTS)
SAME_CALLER = 8  # concurrent ``next`` calls of one annotator


@pytest.fixture(scope="session", autouse=True)
def fresh_postgres_schema():
    """Override conftest's: these tests run in their own database and leave the test one alone."""
    yield


# --- the server -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("races")
    with dedicated_database() if PG_URL else nullcontext("") as database_url:  # "": SQLite in data_dir
        srv = Server(data_dir, database_url)
        try:
            srv.start()
            yield srv
        finally:
            srv.stop()


# --- the clients ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin(server):
    client = Client(server, ADMIN_ID, role="admin")
    yield client
    client.close()


@pytest.fixture(scope="module")
def project(admin):
    project = factories.project(admin, "Races", 1)
    for account_id in ANNOTATOR_IDS:
        factories.member(admin, project, account_id, email=f"u{account_id}@example.com")
    return project


@pytest.fixture
def annotators(server, project):
    clients = [Client(server, account_id) for account_id in ANNOTATOR_IDS]
    yield clients
    for client in clients:
        client.close()


# --- the tests ------------------------------------------------------------------------------------

def test_next_hands_out_every_entry_exactly_once(server, admin, project, annotators):
    dataset = factories.dataset(admin, project, "Queue", sample_rate=0)
    ids = {factories.entry(admin, dataset, f"img-{i:03d}.png", priority=i % 5)["id"] for i in range(ENTRIES)}
    next_path = f"/entries/next?filter[dataset_id]={dataset['id']}"
    deadline = time.monotonic() + RACE_DEADLINE

    results = race(annotators, lambda client: drain(client, next_path, deadline, ENTRIES))

    owners = claimers(annotators, results)  # next may repeat the caller's own entry, never another's
    twice = {entry_id: sorted(who) for entry_id, who in owners.items() if len(who) > 1}
    assert not twice, f"{len(twice)} entries handed out to several accounts (id: accounts): {twice}"
    problems = [p for _, found in results for p in found]
    assert not problems, (f"{len(problems)} unexpected responses:\n{summarize(problems)}\n"
                          f"first one: {problems[0]}\nserver log:\n{server.log_tail()}")
    lost, unknown = ids - owners.keys(), owners.keys() - ids
    assert not lost, f"{len(lost)} of {ENTRIES} entries never handed out: {sorted(lost)[:10]}"
    assert not unknown, f"next handed out entries outside the dataset: {sorted(unknown)[:10]}"

    counts = admin.attributes(f"/datasets/{dataset['id']}")
    assert {k: counts[k] for k in ("entries_total_count", "entries_completed_count",
                                   "entries_in_progress_count", "progress", "status")} == {
        "entries_total_count": ENTRIES, "entries_completed_count": ENTRIES,
        "entries_in_progress_count": 0, "progress": 1.0, "status": "completed"}, counts
    resp = admin.request("GET", f"/entries?filter[dataset_id]={dataset['id']}&page[size]=1000")
    states = {e["id"]: (e["attributes"]["wf_step"], e["attributes"]["status"],
                        e["attributes"]["submitted_by_id"]) for e in resp.json()["data"]}
    wrong = {i: s for i, s in states.items() if s != ("done", "completed", *owners[i])}
    assert len(states) == ENTRIES and not wrong, f"entries not done by their claimer: {wrong}"
    assert not server.error_lines(), "server logged errors:\n" + "\n".join(server.error_lines()[:20])


def test_select_race_has_exactly_one_winner(server, admin, project, annotators):
    dataset = factories.dataset(admin, project, "Select race", sample_rate=0)
    rounds = 5  # one race per entry; more rounds, more chances to catch an interleaving
    for round_ in range(rounds):
        entry = factories.entry(admin, dataset, f"contested-{round_}.png")
        path = f"/entries/{entry['id']}/select"

        def work(client, path=path):
            resp = client.request("GET", path)
            return client, resp

        results = race(annotators, work)

        # A loser that read the entry before the winner committed gets 409; one that reads it after
        # may no longer see it (annotators read unassigned entries and their own: DESIGN §4, §6): 404.
        statuses = Counter(resp.status_code for _, resp in results)
        losers = statuses[409] + statuses[404]
        summary = "\n".join(describe(c, "GET", path, r) for c, r in results
                            if r.status_code not in (404, 409))
        assert statuses[200] == 1 and losers == CLIENTS - 1, (
            f"round {round_}: statuses {dict(statuses)}, expected one 200 and {CLIENTS - 1} x 409 (or 404);"
            f"\n{summary}\nserver log:\n{server.log_tail()}")
        winner, won = next((c, r) for c, r in results if r.status_code == 200)
        attrs = won.json()["data"]["attributes"]
        assert (attrs["assigned_to_id"], attrs["status"]) == (winner.account_id, "in_progress"), attrs
        for client, resp in results:
            if resp.status_code in (404, 409):
                assert resp.json()["errors"][0]["status"] == str(resp.status_code), describe(
                    client, "GET", path, resp)
            if resp.status_code == 404:  # only because the entry is now someone else's
                again = client.request("GET", f"/entries/{entry['id']}")
                assert again.status_code == 404, describe(client, "GET", f"/entries/{entry['id']}", again)
        print(f"select race round {round_}: {dict(statuses)}")
        stored = admin.attributes(f"/entries/{entry['id']}")
        assert (stored["assigned_to_id"], stored["status"]) == (winner.account_id, "in_progress"), stored

    counts = admin.attributes(f"/datasets/{dataset['id']}")
    assert (counts["entries_total_count"], counts["entries_in_progress_count"],
            counts["entries_completed_count"], counts["status"]) == (rounds, rounds, 0, "in_progress"), counts
    assert not server.error_lines(), "server logged errors:\n" + "\n".join(server.error_lines()[:20])


def test_next_gives_a_caller_one_entry_however_many_of_its_calls_race(server, admin, project):
    """DESIGN §4, "your own in-progress entry first", under concurrency: each of a few annotators
    fires ``SAME_CALLER`` ``next`` calls at once (each on its own connection, all released together
    with the other annotators' calls); every call of one annotator returns the same entry, that
    annotator holds exactly one entry in progress, and no entry goes to two annotators."""
    callers, calls = ANNOTATOR_IDS[:4], SAME_CALLER
    clients = [Client(server, account_id) for account_id in callers for _ in range(calls)]
    for client in clients:  # warm connections, so the calls meet at the server
        assert client.request("GET", "/healthz").status_code == 200
    try:
        for round_ in range(3):  # a fresh dataset per round, more chances to catch an interleaving
            dataset = factories.dataset(admin, project, f"Hoarding {round_}", sample_rate=0)
            for i in range(len(callers) * calls + 8):  # enough for every call to claim its own
                factories.entry(admin, dataset, f"hoard-{i:03d}.png")
            next_path = f"/entries/next?filter[dataset_id]={dataset['id']}"
            results = race(clients, lambda client, path=next_path: (client, client.request("GET", path)))

            problems = [describe(c, "GET", next_path, r) for c, r in results if r.status_code != 200]
            assert not problems, "\n".join(problems[:10]) + f"\nserver log:\n{server.log_tail()}"
            given = defaultdict(set)  # account -> entry ids its calls returned
            for client, resp in results:
                given[client.account_id].add(resp.json()["data"]["id"])
            hoarded = {account: sorted(ids) for account, ids in given.items() if len(ids) > 1}
            assert not hoarded, (f"round {round_}: {calls} concurrent calls of one annotator returned "
                                 f"several entries (account: ids): {hoarded}")
            owners = Counter(entry_id for ids in given.values() for entry_id in ids)
            assert all(n == 1 for n in owners.values()), f"round {round_}: entries given twice: {owners}"

            resp = admin.request("GET", f"/entries?filter[dataset_id]={dataset['id']}"
                                        f"&filter[status]=in_progress&page[size]=1000")
            held = Counter(e["attributes"]["assigned_to_id"] for e in resp.json()["data"])
            assert held == dict.fromkeys(callers, 1), f"round {round_}: in progress by account: {held}"
            counts = admin.attributes(f"/datasets/{dataset['id']}")
            assert counts["entries_in_progress_count"] == len(callers), counts
            print(f"next race round {round_}: {len(clients)} calls, entries handed out: {len(owners)}")
    finally:
        for client in clients:
            client.close()
    assert not server.error_lines(), "server logged errors:\n" + "\n".join(server.error_lines()[:20])
