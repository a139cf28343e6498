"""The entry workflow over HTTP (DESIGN §4, roles from §6).

assign / select / submit / error, the ``/entries/next`` work queue, the workflow rules that other
resources obey (annotations of completed entries, deleting entries), the dataset counters, and a
Hypothesis run of random workflow actions after which the counters must equal a recount.

Where DESIGN §6 would hide an entry from a caller (an annotator may only read the entries assigned
to them, the ones they submitted or reviewed and the unassigned ones at their step), the tests pick
a caller who may read the entry, so a 403 or 409 is about the workflow; callers who may read
nothing of the project get 404 (DESIGN §6).
"""

import uuid
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dataset_api.app import create_app
from dataset_api.db import db
from dataset_api.workflow import counters
from dataset_api.workflow.machine import sampled
from tests import factories
from tests.conftest import Api, make_config, reset_database, token
from tests.factories import assign, error, next_entry, select, submit
from tests.factories import id_of as eid

ADMIN, ANNOTATOR, REVIEWER, ANNOTATOR_2, DISABLED, OWNER, OUTSIDER = 1, 2, 3, 4, 5, 6, 99
ORGANIZATION = 1
MEMBERS = (  # account, role, enabled
    (ANNOTATOR, "annotator", True),
    (REVIEWER, "reviewer", True),
    (ANNOTATOR_2, "annotator", True),
    (DISABLED, "annotator", False),
    (OWNER, "project_owner", True),
)
WORKFLOW = ("wf_step", "status", "assigned_to_id", "submitted_by_id", "reviewed_by_id", "error_message")
COUNTERS = ("entries_total_count", "entries_completed_count", "entries_in_progress_count", "progress",
            "status")
APPROVE = {"data": {"attributes": {"approved": True}}}
REJECT = {"data": {"attributes": {"approved": False}}}


# ---------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for the module (building it takes seconds): every test makes its own project."""
    config = make_config(tmp_path_factory.mktemp("workflow"))
    reset_database(config)
    application = create_app(config)
    yield application
    db.obj.close_all()


def make_world(api, client, *, sample_rates=(1, 0), entries=3):
    """A project of organization 1 with its members, one dataset per sample rate, and entries.

    ``w.as_[account]`` is a client for that account (``w.as_[ADMIN]`` is the admin);
    ``w.datasets[i]`` / ``w.entries[i]`` belong to ``sample_rates[i]``.
    """
    project = factories.project(api, organization_id=ORGANIZATION)
    factories.members(api, project, MEMBERS)
    datasets = [factories.dataset(api, project, f"Photos {rate}", sample_rate=rate) for rate in sample_rates]
    all_entries = [factories.entries(api, dataset, entries, priority=0) for dataset in datasets]
    as_ = {account: factories.caller(client, account) for account in (ANNOTATOR, REVIEWER, ANNOTATOR_2,
                                                                       DISABLED, OWNER, OUTSIDER)}
    as_[ADMIN] = api
    return SimpleNamespace(project=project, datasets=datasets, entries=all_entries, as_=as_)


def ok(resp):
    """The workflow attributes of a 200 entry document."""
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["type"] == "dataset:entries"
    return {k: data["attributes"][k] for k in WORKFLOW}


def state(api, entry):
    return ok(api.get(f"/entries/{eid(entry)}"))


def wf(step, status, assigned=None, submitted=None, reviewed=None, message=None):
    return {"wf_step": step, "status": status, "assigned_to_id": assigned, "submitted_by_id": submitted,
            "reviewed_by_id": reviewed, "error_message": message}


def refused(resp, status, pointer=None):
    """Assert a JSON:API error with ``status`` (and ``pointer``); return its detail."""
    assert resp.status_code == status, resp.text
    err = resp.json()["errors"][0]
    assert err["status"] == str(status)
    assert err["detail"]
    if pointer is not None:
        assert err["source"]["pointer"] == pointer, err
    return err["detail"]


def dataset_counters(api, dataset):
    resp = api.get(f"/datasets/{eid(dataset)}")
    assert resp.status_code == 200, resp.text
    attributes = resp.json()["data"]["attributes"]
    return {k: attributes[k] for k in COUNTERS}


def counted(api, dataset, **filters):
    query = "".join(f"&filter[{k}]={v}" for k, v in filters.items())
    resp = api.get(f"/entries?filter[dataset_id]={eid(dataset)}{query}&count=true&page[size]=1")
    assert resp.status_code == 200, resp.text
    return resp.json()["meta"]["count"]


def expected_counters(total, completed, in_progress, status):
    return {"entries_total_count": total, "entries_completed_count": completed,
            "entries_in_progress_count": in_progress,
            "progress": pytest.approx(completed / total if total else 0.0), "status": status}


@pytest.fixture
def w(api, client):
    return make_world(api, client)


# ------------------------------------------------------------------------------------------ select

def test_a_new_entry_is_pending_and_unassigned(w):
    assert state(w.as_[ADMIN], w.entries[0][0]) == wf("annotate", "pending")


def test_select_claims_an_unassigned_entry_and_is_idempotent_for_the_caller(w):
    entry = w.entries[0][0]
    annotator = w.as_[ANNOTATOR]
    assert ok(select(annotator, entry)) == wf("annotate", "in_progress", ANNOTATOR)
    first_etag = annotator.get(f"/entries/{entry['id']}").headers["ETag"]

    again = select(annotator, entry)
    assert ok(again) == wf("annotate", "in_progress", ANNOTATOR)
    assert again.headers["ETag"] == first_etag, "a repeated select must not change the entry"


def test_select_of_someone_elses_entry_is_a_conflict(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    refused(select(w.as_[OWNER], entry), 409)
    refused(select(w.as_[ADMIN], entry), 409)
    assert state(w.as_[ADMIN], entry)["assigned_to_id"] == ANNOTATOR


def test_select_by_a_project_owner_member_claims_for_itself(w):
    assert ok(select(w.as_[OWNER], w.entries[0][0])) == wf("annotate", "in_progress", OWNER)


def test_an_annotator_cannot_select_an_entry_at_review(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    assert ok(submit(w.as_[ANNOTATOR], entry))["wf_step"] == "review"
    refused(select(w.as_[ANNOTATOR], entry), 403)
    assert state(w.as_[ADMIN], entry) == wf("review", "pending", submitted=ANNOTATOR)


def test_a_reviewer_cannot_select_an_entry_at_annotate(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))
    ok(submit(w.as_[REVIEWER], entry, REJECT))  # back at annotate, the reviewer may still read it
    ok(assign(w.as_[ADMIN], entry, None))
    refused(select(w.as_[REVIEWER], entry), 403)


@pytest.mark.parametrize("account", [DISABLED, OUTSIDER], ids=["disabled-member", "non-member"])
def test_accounts_without_an_enabled_membership_cannot_select(w, account):
    entry = w.entries[0][0]
    refused(select(w.as_[account], entry), 404)
    assert state(w.as_[ADMIN], entry) == wf("annotate", "pending")


# ------------------------------------------------------------------------------------------ assign

@pytest.mark.parametrize("owner", [ADMIN, OWNER], ids=["admin", "project-owner-member"])
def test_a_project_owner_assigns_reassigns_and_unassigns(w, owner):
    entry, who = w.entries[0][0], w.as_[owner]
    assert ok(assign(who, entry, ANNOTATOR)) == wf("annotate", "in_progress", ANNOTATOR)
    assert ok(assign(who, entry, ANNOTATOR_2)) == wf("annotate", "in_progress", ANNOTATOR_2)
    assert ok(assign(who, entry, OWNER)) == wf("annotate", "in_progress", OWNER)
    assert ok(assign(who, entry, None)) == wf("annotate", "pending")
    assert state(w.as_[ADMIN], entry) == wf("annotate", "pending")


@pytest.mark.parametrize("account", [REVIEWER, OUTSIDER, DISABLED],
                         ids=["reviewer-at-annotate", "non-member", "disabled-member"])
def test_assigning_someone_who_cannot_work_the_step_is_invalid(w, account):
    entry = w.entries[0][0]
    detail = refused(assign(w.as_[ADMIN], entry, account), 422, "/data/attributes/assigned_to_id")
    assert str(account) in detail or "reviewer" in detail
    assert state(w.as_[ADMIN], entry) == wf("annotate", "pending")


def test_at_review_only_reviewers_and_project_owners_can_be_assigned(w):
    entry, admin = w.entries[0][0], w.as_[ADMIN]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    refused(assign(admin, entry, ANNOTATOR), 422, "/data/attributes/assigned_to_id")
    refused(assign(admin, entry, ANNOTATOR_2), 422, "/data/attributes/assigned_to_id")
    assert ok(assign(admin, entry, REVIEWER)) == wf("review", "in_progress", REVIEWER, ANNOTATOR)
    assert ok(assign(admin, entry, OWNER)) == wf("review", "in_progress", OWNER, ANNOTATOR)
    assert ok(assign(admin, entry, None)) == wf("review", "pending", None, ANNOTATOR)


def test_an_annotator_cannot_assign(w):
    entry = w.entries[0][0]
    ok(assign(w.as_[ADMIN], entry, ANNOTATOR))  # the annotator can read its own entry
    refused(assign(w.as_[ANNOTATOR], entry, ANNOTATOR_2), 403)
    refused(assign(w.as_[ANNOTATOR], entry, None), 403)
    assert state(w.as_[ADMIN], entry) == wf("annotate", "in_progress", ANNOTATOR)


def test_a_reviewer_cannot_assign(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))
    refused(assign(w.as_[REVIEWER], entry, OWNER), 403)
    refused(assign(w.as_[REVIEWER], entry, None), 403)
    assert state(w.as_[ADMIN], entry) == wf("review", "in_progress", REVIEWER, ANNOTATOR)


def test_an_org_owner_of_the_projects_organization_acts_as_project_owner(w, client):
    org_owner = Api(client, token(account_id=50, email="boss@example.com", role="org_owner",
                                  orgs=[ORGANIZATION]))
    entry = w.entries[0][0]
    assert ok(assign(org_owner, entry, ANNOTATOR)) == wf("annotate", "in_progress", ANNOTATOR)
    assert ok(submit(org_owner, entry)) == wf("review", "pending", None, 50)

    stranger = Api(client, token(account_id=51, email="other@example.com", role="org_owner", orgs=[2]))
    refused(assign(stranger, entry, REVIEWER), 404)  # another organization's project: unreadable
    refused(select(stranger, entry), 404)
    assert state(w.as_[ADMIN], entry) == wf("review", "pending", None, 50)


# ------------------------------------------------------------------------------------------ submit

def test_submit_at_annotate_goes_to_review_when_sampled(w):
    entry, annotator = w.entries[0][0], w.as_[ANNOTATOR]
    ok(select(annotator, entry))
    assert ok(submit(annotator, entry)) == wf("review", "pending", submitted=ANNOTATOR)


def test_submit_at_annotate_accepts_an_empty_body(w):
    entry, annotator = w.entries[0][1], w.as_[ANNOTATOR]
    ok(select(annotator, entry))
    assert ok(submit(annotator, entry, {"data": {"attributes": {}}})) == \
        wf("review", "pending", submitted=ANNOTATOR)


def test_submit_at_annotate_is_done_when_never_sampled(w):
    entry, annotator = w.entries[1][0], w.as_[ANNOTATOR]
    ok(select(annotator, entry))
    assert ok(submit(annotator, entry)) == wf("done", "completed", submitted=ANNOTATOR)


def entry_with_id(api, dataset, resource, wanted):
    """Create an entry whose (client-chosen) id is, or is not, sampled at the dataset's rate."""
    rate = dataset["attributes"]["workflow_configuration"]["sample_rate"]
    rid = next(i for i in iter(lambda: str(uuid.uuid4()), None) if sampled(i, rate) == wanted)
    resp = api.post("/entries", {"data": {"type": "dataset:entries", "id": rid, "attributes": {
        "dataset_id": dataset["id"], "resource": resource}}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["id"] == rid
    return resp.json()["data"]


def test_sampling_sends_some_entries_to_review_and_others_straight_to_done(api, client):
    w = make_world(api, client, sample_rates=(0.5,), entries=0)
    ds, annotator = w.datasets[0], w.as_[ANNOTATOR]
    reviewed = entry_with_id(api, ds, "sampled.png", True)
    skipped = entry_with_id(api, ds, "skipped.png", False)
    for entry in (reviewed, skipped):
        ok(select(annotator, entry))
    assert ok(submit(annotator, reviewed)) == wf("review", "pending", submitted=ANNOTATOR)
    assert ok(submit(annotator, skipped)) == wf("done", "completed", submitted=ANNOTATOR)


def test_a_changed_sample_rate_applies_to_the_next_submit(w):
    admin, ds, entry = w.as_[ADMIN], w.datasets[0], w.entries[0][0]
    resp = admin.patch(f"/datasets/{ds['id']}", {"data": {"type": "dataset:datasets", "attributes": {
        "workflow_configuration": {"type": "simple_review", "sample_rate": 0}}}})
    assert resp.status_code == 200, resp.text
    ok(select(w.as_[ANNOTATOR], entry))
    assert ok(submit(w.as_[ANNOTATOR], entry)) == wf("done", "completed", submitted=ANNOTATOR)


def test_an_action_can_include_the_dataset_with_its_new_counters(w):
    entry = w.entries[0][0]
    resp = w.as_[ANNOTATOR].get(f"/entries/{entry['id']}/select?include=dataset")
    assert ok(resp) == wf("annotate", "in_progress", ANNOTATOR)
    (dataset,) = resp.json()["included"]
    assert dataset["id"] == w.datasets[0]["id"]
    assert dataset["attributes"]["entries_in_progress_count"] == 1
    assert dataset["attributes"]["status"] == "in_progress"


@pytest.mark.parametrize("body", [None, {"data": {"attributes": {}}}], ids=["no-body", "no-approved"])
def test_submit_at_review_needs_approved(w, body):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))
    refused(submit(w.as_[REVIEWER], entry, body), 422, "/data/attributes/approved")
    assert state(w.as_[ADMIN], entry) == wf("review", "in_progress", REVIEWER, ANNOTATOR)


def test_review_approved_is_done_and_unassigned(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    assert ok(select(w.as_[REVIEWER], entry)) == wf("review", "in_progress", REVIEWER, ANNOTATOR)
    assert ok(submit(w.as_[REVIEWER], entry, APPROVE)) == \
        wf("done", "completed", None, ANNOTATOR, REVIEWER)
    assert state(w.as_[ADMIN], entry) == wf("done", "completed", None, ANNOTATOR, REVIEWER)


def test_review_rejected_goes_back_to_the_submitter_then_to_the_same_reviewer(w):
    entry, ds, admin = w.entries[0][0], w.datasets[0], w.as_[ADMIN]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))

    assert ok(submit(w.as_[REVIEWER], entry, REJECT)) == \
        wf("annotate", "in_progress", ANNOTATOR, ANNOTATOR, REVIEWER)
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 1, "in_progress")
    assert next_entry(w.as_[ANNOTATOR], ds).json()["data"]["id"] == entry["id"]  # its work is back

    assert ok(submit(w.as_[ANNOTATOR], entry)) == \
        wf("review", "in_progress", REVIEWER, ANNOTATOR, REVIEWER)
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 1, "in_progress")

    assert ok(submit(w.as_[REVIEWER], entry, APPROVE)) == \
        wf("done", "completed", None, ANNOTATOR, REVIEWER)
    assert dataset_counters(admin, ds) == expected_counters(3, 1, 0, "in_progress")


def test_only_the_assignee_may_submit_or_report_an_error(w):
    entry, admin = w.entries[0][0], w.as_[ADMIN]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))
    ok(submit(w.as_[REVIEWER], entry, REJECT))
    ok(assign(admin, entry, ANNOTATOR_2))  # the first annotator still reads it: it submitted it
    before = state(admin, entry)

    refused(submit(w.as_[ANNOTATOR], entry), 409)
    refused(error(w.as_[ANNOTATOR], entry), 409)
    refused(select(w.as_[ANNOTATOR], entry), 409)
    assert state(admin, entry) == before == wf("annotate", "in_progress", ANNOTATOR_2, ANNOTATOR,
                                               REVIEWER)


def test_an_annotator_cannot_submit_an_unassigned_entry(w):
    entry = w.entries[0][0]
    refused(submit(w.as_[ANNOTATOR], entry), 409)
    assert state(w.as_[ADMIN], entry) == wf("annotate", "pending")


@pytest.mark.parametrize("owner", [ADMIN, OWNER], ids=["admin", "project-owner-member"])
def test_a_project_owner_may_submit_an_entry_assigned_to_someone_else(w, owner):
    entry = w.entries[1][0]
    ok(select(w.as_[ANNOTATOR], entry))
    assert ok(submit(w.as_[owner], entry)) == wf("done", "completed", submitted=owner)


# ------------------------------------------------------------------------------------------- error

def test_error_keeps_the_message_and_the_assignee(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    assert ok(error(w.as_[ANNOTATOR], entry, "corrupt file")) == \
        wf("error", "errored", ANNOTATOR, message="corrupt file")
    assert state(w.as_[ADMIN], entry) == wf("error", "errored", ANNOTATOR, message="corrupt file")


def test_error_at_review_by_the_reviewer(w):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))
    ok(select(w.as_[REVIEWER], entry))
    assert ok(error(w.as_[REVIEWER], entry, "blurry")) == \
        wf("error", "errored", REVIEWER, ANNOTATOR, message="blurry")


@pytest.mark.parametrize("message", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_error_needs_a_message(w, message):
    entry = w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    refused(error(w.as_[ANNOTATOR], entry, message), 422, "/data/attributes/message")
    assert state(w.as_[ADMIN], entry) == wf("annotate", "in_progress", ANNOTATOR)


# ------------------------------------------------------------------------------- finished entries

def finished(w):
    """A done entry (worked by the annotator) and an errored one (assigned to the annotator)."""
    done, broken = w.entries[1][0], w.entries[1][1]
    ok(select(w.as_[ANNOTATOR], done))
    ok(submit(w.as_[ANNOTATOR], done))
    ok(select(w.as_[ANNOTATOR], broken))
    ok(error(w.as_[ANNOTATOR], broken, "empty image"))
    return {"done": done, "error": broken}


@pytest.mark.parametrize("step", ["done", "error"])
@pytest.mark.parametrize("who", [ADMIN, ANNOTATOR], ids=["admin", "annotator"])
def test_a_finished_entry_refuses_every_action(w, step, who):
    entry = finished(w)[step]
    before = state(w.as_[ADMIN], entry)
    actor = w.as_[who]
    refused(select(actor, entry), 409)
    refused(submit(actor, entry), 409)
    refused(submit(actor, entry, APPROVE), 409)
    refused(error(actor, entry, "again"), 409)
    refused(assign(w.as_[ADMIN], entry, ANNOTATOR_2), 409)
    refused(assign(w.as_[ADMIN], entry, None), 409)
    assert state(w.as_[ADMIN], entry) == before


def test_actions_on_an_unknown_entry_are_404(w):
    missing = "01900000-0000-7000-8000-000000000000"
    refused(select(w.as_[ADMIN], missing), 404)
    refused(submit(w.as_[ADMIN], missing), 404)
    refused(error(w.as_[ADMIN], missing), 404)
    refused(assign(w.as_[ADMIN], missing, ANNOTATOR), 404)


# -------------------------------------------------------------------------------------------- next

@pytest.fixture
def queue(api, client):
    """A world whose first dataset (always reviewed) holds entries of mixed priority and age."""
    world = make_world(api, client, sample_rates=(1,), entries=0)
    ds = world.datasets[0]
    world.q = {name: factories.entry(api, ds, name, priority=priority)
               for name, priority in (("low-old", 0), ("high-old", 5), ("mid", 1), ("high-new", 5))}
    return world


def test_next_claims_the_highest_priority_then_oldest_entry(queue):
    ds, q = queue.datasets[0], queue.q
    resp = next_entry(queue.as_[ANNOTATOR], ds)
    assert resp.json()["data"]["id"] == q["high-old"]["id"]
    assert ok(resp) == wf("annotate", "in_progress", ANNOTATOR)
    assert ok(next_entry(queue.as_[ANNOTATOR_2], ds)) == wf("annotate", "in_progress", ANNOTATOR_2)
    assert next_entry(queue.as_[ANNOTATOR_2], ds).json()["data"]["id"] == q["high-new"]["id"]
    assert dataset_counters(queue.as_[ADMIN], ds) == expected_counters(4, 0, 2, "in_progress")


def test_next_returns_the_callers_own_entry_first(queue):
    ds, q, annotator = queue.datasets[0], queue.q, queue.as_[ANNOTATOR]
    ok(assign(queue.as_[ADMIN], q["low-old"], ANNOTATOR))
    for _ in range(2):  # safe to repeat: no hoarding
        resp = next_entry(annotator, ds)
        assert resp.json()["data"]["id"] == q["low-old"]["id"]
        assert ok(resp) == wf("annotate", "in_progress", ANNOTATOR)
    assert counted(queue.as_[ADMIN], ds, assigned_to_id=ANNOTATOR) == 1

    ok(submit(annotator, q["low-old"]))
    assert next_entry(annotator, ds).json()["data"]["id"] == q["high-old"]["id"]


@pytest.mark.parametrize("narrow", [{"status": "pending"}, {"assigned": "false"}],
                         ids=["status-pending", "assigned-false"])
def test_next_repeated_with_filters_the_claim_no_longer_matches_still_hoards_nothing(queue, narrow):
    """DESIGN §4: the caller's own in-progress entry comes first (no hoarding, safe to repeat);
    the filters narrow the choice of a new entry, not whether the caller already has one."""
    ds, annotator = queue.datasets[0], queue.as_[ANNOTATOR]
    first = next_entry(annotator, ds, **narrow)
    assert ok(first) == wf("annotate", "in_progress", ANNOTATOR)
    again = next_entry(annotator, ds, **narrow)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert counted(queue.as_[ADMIN], ds, assigned_to_id=ANNOTATOR) == 1


def test_next_for_a_reviewer_takes_review_entries_only(queue):
    ds, q = queue.datasets[0], queue.q
    reviewer = queue.as_[REVIEWER]
    detail = refused(next_entry(reviewer, ds), 404)
    assert "no entry" in detail.lower()

    ok(select(queue.as_[ANNOTATOR], q["mid"]))
    ok(submit(queue.as_[ANNOTATOR], q["mid"]))
    resp = next_entry(reviewer, ds)
    assert resp.json()["data"]["id"] == q["mid"]["id"]
    assert ok(resp) == wf("review", "in_progress", REVIEWER, ANNOTATOR)
    assert next_entry(reviewer, ds).json()["data"]["id"] == q["mid"]["id"]

    ok(submit(reviewer, q["mid"], APPROVE))
    refused(next_entry(reviewer, ds), 404)


def test_next_for_an_annotator_skips_review_entries(queue):
    ds, q, annotator = queue.datasets[0], queue.q, queue.as_[ANNOTATOR]
    ok(select(annotator, q["high-old"]))
    ok(submit(annotator, q["high-old"]))  # at review now, unassigned
    assert next_entry(annotator, ds).json()["data"]["id"] == q["high-new"]["id"]


def test_next_extra_filters_narrow_the_choice(queue):
    ds, q = queue.datasets[0], queue.q
    resp = next_entry(queue.as_[ANNOTATOR], ds, priority=0)
    assert resp.json()["data"]["id"] == q["low-old"]["id"]
    resp = next_entry(queue.as_[ANNOTATOR_2], ds, resource="mid")
    assert resp.json()["data"]["id"] == q["mid"]["id"]
    refused(next_entry(queue.as_[OWNER], ds, priority=7), 404)


def test_next_is_404_when_nothing_is_left(queue):
    ds, annotator = queue.datasets[0], queue.as_[ANNOTATOR]
    claimed = {account: next_entry(queue.as_[account], ds).json()["data"]["id"]
               for account in (ANNOTATOR, ANNOTATOR_2, OWNER, ADMIN)}
    assert set(claimed.values()) == {e["id"] for e in queue.q.values()}, "two callers got one entry"

    ok(submit(annotator, claimed[ANNOTATOR]))  # to review: nothing left at annotate
    detail = refused(next_entry(annotator, ds), 404)
    assert "no entry" in detail.lower()


def test_next_without_a_dataset_filter_is_400(queue):
    resp = queue.as_[ANNOTATOR].get("/entries/next")
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["source"] == {"parameter": "filter[dataset_id]"}
    resp = queue.as_[ANNOTATOR].get("/entries/next?filter[priority]=5")
    assert resp.status_code == 400, resp.text


def test_next_in_an_unknown_dataset_is_404(queue):
    missing = {"id": "01900000-0000-7000-8000-000000000000"}
    refused(next_entry(queue.as_[ANNOTATOR], missing), 404)


@pytest.mark.parametrize("account", [DISABLED, OUTSIDER], ids=["disabled-member", "non-member"])
def test_next_without_an_enabled_membership_claims_nothing(queue, account):
    refused(next_entry(queue.as_[account], queue.datasets[0]), 404)
    assert counted(queue.as_[ADMIN], queue.datasets[0], status="in_progress") == 0


# ----------------------------------------------------------- workflow rules on other resources

def annotation_body(entry=None, **attributes):
    data = {"type": "dataset:annotations", "attributes": attributes}
    if entry is not None:
        data["attributes"]["entry_id"] = eid(entry)
    return {"data": data}


def test_annotations_of_a_completed_entry_cannot_change(w):
    admin, annotator, entry = w.as_[ADMIN], w.as_[ANNOTATOR], w.entries[1][0]
    ok(select(annotator, entry))
    note = factories.annotation(annotator, entry)
    ok(submit(annotator, entry))  # never sampled: completed

    refused(admin.post("/annotations", annotation_body(entry, dimensions={"x": 2},
                                                       annotation={"label": "sky"})), 409)
    refused(admin.patch(f"/annotations/{note['id']}", annotation_body(annotation={"label": "cat"})), 409)
    refused(admin.delete(f"/annotations/{note['id']}"), 409)

    resp = admin.get(f"/annotations?filter[entry_id]={entry['id']}&count=true")
    assert resp.json()["meta"]["count"] == 1
    assert resp.json()["data"][0]["attributes"]["annotation"] == {"label": "bird"}


def test_annotations_of_an_open_entry_can_change(w):
    admin, entry = w.as_[ADMIN], w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))  # at review: still open
    note = factories.annotation(admin, entry)
    resp = admin.patch(f"/annotations/{note['id']}", annotation_body(annotation={"label": "cat"}))
    assert resp.status_code == 200, resp.text
    assert admin.delete(f"/annotations/{note['id']}").status_code == 204


def test_in_progress_and_completed_entries_cannot_be_deleted(w):
    admin, ds = w.as_[ADMIN], w.datasets[1]
    busy, done, _ = w.entries[1]
    ok(select(w.as_[ANNOTATOR], busy))
    ok(assign(admin, done, ANNOTATOR_2))
    ok(submit(w.as_[ANNOTATOR_2], done))
    before = dataset_counters(admin, ds)

    refused(admin.delete(f"/entries/{busy['id']}"), 409)
    refused(admin.delete(f"/entries/{done['id']}"), 409)
    assert admin.get(f"/entries/{busy['id']}").status_code == 200
    assert admin.get(f"/entries/{done['id']}").status_code == 200
    assert dataset_counters(admin, ds) == before == expected_counters(3, 1, 1, "in_progress")


def test_workflow_attributes_cannot_be_patched(w):
    admin, entry, ds = w.as_[ADMIN], w.entries[0][0], w.datasets[0]
    resp = admin.patch(f"/entries/{entry['id']}", {"data": {"type": "dataset:entries", "attributes": {
        "priority": 3, "wf_step": "done", "status": "completed", "assigned_to_id": ANNOTATOR,
        "submitted_by_id": ANNOTATOR, "reviewed_by_id": REVIEWER, "error_message": "x"}}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["attributes"]["priority"] == 3
    assert ok(resp) == wf("annotate", "pending")
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 0, "pending")


# ------------------------------------------------------------------------------------ counters

def test_dataset_counters_follow_every_transition(api, client):
    w = make_world(api, client, sample_rates=(0,), entries=3)
    admin, ds = w.as_[ADMIN], w.datasets[0]
    first, second, third = w.entries[0]
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 0, "pending")

    ok(select(w.as_[ANNOTATOR], first))
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 1, "in_progress")
    ok(assign(admin, second, ANNOTATOR_2))
    ok(assign(admin, second, OWNER))  # reassigning moves nothing
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 2, "in_progress")
    ok(assign(admin, second, None))
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 1, "in_progress")

    ok(submit(w.as_[ANNOTATOR], first))
    assert dataset_counters(admin, ds) == expected_counters(3, 1, 0, "in_progress")
    ok(error(admin, third, "missing file"))  # errored counts as finished work
    assert dataset_counters(admin, ds) == expected_counters(3, 2, 0, "in_progress")

    assert admin.delete(f"/entries/{second['id']}").status_code == 204
    assert dataset_counters(admin, ds) == expected_counters(2, 2, 0, "completed")
    assert dataset_counters(admin, ds)["progress"] == 1

    fourth = factories.entry(admin, ds, "late.png")
    assert dataset_counters(admin, ds) == expected_counters(3, 2, 0, "in_progress")
    assert admin.delete(f"/entries/{third['id']}").status_code == 204  # errored: may go
    assert dataset_counters(admin, ds) == expected_counters(2, 1, 0, "in_progress")
    ok(next_entry(w.as_[ANNOTATOR_2], ds))
    assert dataset_counters(admin, ds) == expected_counters(2, 1, 1, "in_progress")
    ok(submit(w.as_[ANNOTATOR_2], fourth))
    assert dataset_counters(admin, ds) == expected_counters(2, 2, 0, "completed")
    assert_counters_match_a_recount(admin, ds)


def test_counters_through_a_review_round_trip(w):
    admin, ds, entry = w.as_[ADMIN], w.datasets[0], w.entries[0][0]
    ok(select(w.as_[ANNOTATOR], entry))
    ok(submit(w.as_[ANNOTATOR], entry))  # at review, unassigned: pending again
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 0, "pending")
    ok(next_entry(w.as_[REVIEWER], ds))
    assert dataset_counters(admin, ds) == expected_counters(3, 0, 1, "in_progress")
    ok(submit(w.as_[REVIEWER], entry, APPROVE))
    assert dataset_counters(admin, ds) == expected_counters(3, 1, 0, "in_progress")
    assert_counters_match_a_recount(admin, ds)


def test_an_empty_dataset_is_pending_with_no_progress(api, client):
    w = make_world(api, client, sample_rates=(1,), entries=0)
    admin, ds = w.as_[ADMIN], w.datasets[0]
    assert dataset_counters(admin, ds) == expected_counters(0, 0, 0, "pending")
    entry = factories.entry(admin, ds, "only.png")
    ok(error(admin, entry, "unreadable"))
    assert dataset_counters(admin, ds) == expected_counters(1, 1, 0, "completed")
    assert admin.delete(f"/entries/{entry['id']}").status_code == 204  # emptied again
    assert dataset_counters(admin, ds) == expected_counters(0, 0, 0, "pending")


def assert_counters_match_a_recount(api, dataset):
    """The counters shown equal a recount of the entries over HTTP, and ``recount`` keeps them."""
    by_status = {s: counted(api, dataset, status=s)
                 for s in ("pending", "in_progress", "completed", "errored")}
    total = counted(api, dataset)
    assert sum(by_status.values()) == total, by_status
    finished = by_status["completed"] + by_status["errored"]
    status = ("completed" if total and finished == total
              else "in_progress" if finished or by_status["in_progress"] else "pending")
    shown = dataset_counters(api, dataset)
    assert shown == expected_counters(total, finished, by_status["in_progress"], status), by_status

    with db.connection_context(), db.atomic():
        assert counters.recount(dataset["id"]) == 1
    assert dataset_counters(api, dataset) == shown


# ------------------------------------------------------------------------- random action sequences

KINDS = ("create", "create", "delete", "select", "assign", "unassign", "approve", "reject", "submit",
         "error", "next", "next")
# owners and workers come up more often than the accounts that can only be refused
ACTORS = (ADMIN, ADMIN, OWNER, ANNOTATOR, ANNOTATOR, REVIEWER, REVIEWER, ANNOTATOR_2, ANNOTATOR_2,
          DISABLED, OUTSIDER)
STEPS_PER_RUN, RUNS = 100, 5  # 500 random actions in all
GONE = "01900000-0000-7000-8000-000000000000"

action = st.tuples(st.sampled_from(KINDS), st.sampled_from(ACTORS), st.integers(0, 1000),
                   st.sampled_from(ACTORS))


def consistent(attributes):
    """An entry's status must agree with its step and assignee."""
    step, status, assigned = attributes["wf_step"], attributes["status"], attributes["assigned_to_id"]
    if step == "done":
        return status == "completed" and assigned is None
    if step == "error":
        return status == "errored" and bool(attributes["error_message"])
    return status == ("in_progress" if assigned is not None else "pending")


def perform(w, ids, step, kind, actor, n, target):
    """Run one random action; ``ids`` holds the entries that exist (it follows creates and deletes)."""
    ds, who = w.datasets[0], w.as_[actor]
    if kind == "create":
        resp = who.post("/entries", {"data": {"type": "dataset:entries", "attributes": {
            "dataset_id": ds["id"], "resource": f"r-{step}.png", "priority": n % 3}}})
        if resp.status_code == 201:
            ids.append(resp.json()["data"]["id"])
        return resp
    if kind == "next":
        return next_entry(who, ds)
    entry = ids[n % len(ids)] if ids else GONE
    if kind == "delete":
        resp = who.delete(f"/entries/{entry}")
        if resp.status_code == 204:
            ids.remove(entry)
        return resp
    return {
        "select": lambda: select(who, entry),
        "assign": lambda: assign(who, entry, target),
        "unassign": lambda: assign(who, entry, None),
        "approve": lambda: submit(who, entry, APPROVE),
        "reject": lambda: submit(who, entry, REJECT),
        "submit": lambda: submit(who, entry),
        "error": lambda: error(who, entry, f"problem {n}"),
    }[kind]()


# No shrinking: every example replays up to 100 HTTP calls, and shrinking a failure could take
# minutes; the failing example is printed whole instead.
@settings(max_examples=RUNS, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=st.lists(action, min_size=STEPS_PER_RUN, max_size=STEPS_PER_RUN))
def test_random_actions_keep_the_counters_equal_to_a_recount(api, client, actions):
    w = make_world(api, client, sample_rates=(0.5,), entries=4)
    ids = [e["id"] for e in w.entries[0]]
    for step, (kind, actor, n, target) in enumerate(actions):
        resp = perform(w, ids, step, kind, actor, n, target)
        assert resp.status_code < 500, (step, kind, actor, resp.text)
        if resp.status_code in (200, 201):
            assert consistent(resp.json()["data"]["attributes"]), (step, kind, actor, resp.text)
    listed = api.get(f"/entries?filter[dataset_id]={w.datasets[0]['id']}")
    assert sorted(e["id"] for e in listed.json()["data"]) == sorted(ids)
    assert all(consistent(e["attributes"]) for e in listed.json()["data"]), listed.text
    assert_counters_match_a_recount(api, w.datasets[0])
