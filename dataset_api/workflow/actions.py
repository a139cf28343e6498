"""Workflow actions on entries, each one transaction: check with the state machine, write with a
version check (so two racing callers can never both win), move the dataset counters."""

from dataset_api import errors, store, writes
from dataset_api.auth.roles import OWNER, enabled_member, role_in
from dataset_api.db import is_postgresql, lock_until_commit
from dataset_api.models import Entry
from dataset_api.registry import RESOURCES
from dataset_api.workflow import counters, machine, statements

STATE = ("id", "wf_step", "status", "assigned_to_id", "submitted_by_id", "reviewed_by_id")
REFUSALS = {403: errors.Forbidden, 409: errors.Conflict, 422: errors.Invalid}


def _state(entry):
    return {name: getattr(entry, name) for name in STATE}


def _refused(exc):
    return REFUSALS[exc.status](exc.detail, pointer=exc.pointer, code=exc.code)


def perform(entry, user, action, **params):
    """Run ``action`` (assign, select, submit, error) on ``entry`` for ``user``; return the new row.

    Call inside a transaction. Raises Forbidden, Conflict or Invalid.
    """
    dataset, role = caller(user, entry.dataset_id)
    if dataset is None:  # deleted with its entries since the entry was read
        raise store.not_found(RESOURCES["entries"], entry.id)
    state = _state(entry)
    args = {}
    try:
        if action == "assign":
            if role != OWNER:
                raise machine.Refused(403, "Only a project owner can assign entries.")
            member = enabled_member(entry.project_id, params["account_id"]) \
                if params["account_id"] is not None else None
            changes = machine.assign(state, params["account_id"], member and member.role,
                                     member is not None and member.disabled_at is None)
            kind, args = "assigned" if params["account_id"] is not None else "unassigned", \
                {"assigned_to_id": params["account_id"]}
        elif action == "select":
            changes = machine.select(state, user.account_id, role)
            kind, args = "selected", {"assigned_to_id": user.account_id}
        elif action == "submit":
            rate = (dataset.workflow_configuration or {}).get("sample_rate", 1)
            changes = machine.submit(state, user.account_id, role, params.get("approved"), rate)
            kind = "reviewed" if entry.wf_step == machine.REVIEW else "submitted"
            if params.get("approved") is not None:
                args = {"approved": params["approved"]}
        else:
            changes = machine.error(state, user.account_id, role, params.get("message"))
            kind, args = "errored", {"message": params.get("message")}
    except machine.Refused as exc:
        raise _refused(exc) from None
    return apply(entry, changes, kind, args)


def caller(user, dataset_id):
    """(the dataset's ``id``, ``project_id`` and ``workflow_configuration``, ``user``'s role in its
    project): one statement. (None, None) when there is no such dataset."""
    dataset = statements.dataset_with_caller(dataset_id, user.account_id)
    if dataset is None:
        return None, None
    return dataset, role_in(user, dataset.caller_organization_id, dataset.caller_member_role)


def _emit(kind, entry, args):
    """The entry's workflow event (docs/events.md), in the action's transaction."""
    writes.recorded(RESOURCES["entries"], kind, [(entry, args)])


def apply(entry, changes, kind, args):
    """Write ``changes`` if the entry is still at the version we read, with the event ``kind``;
    move the counters (their ``completed`` event, if any, follows the entry's)."""
    if not changes:
        return entry
    updated = statements.update_entry(entry.id, changes, version=entry.version)
    if updated is None:
        raise errors.Conflict("The entry changed while you acted on it; fetch it and try again.",
                              code="changed_concurrently")
    _emit(kind, updated, args)
    if "status" in changes:
        completed, in_progress = counters.status_deltas(entry.status, changes["status"])
        if completed or in_progress:
            counters.shift(entry.dataset_id, completed=completed, in_progress=in_progress)
    return updated


def next_entry(user, dataset_id, narrow=None):
    """Return (entry, claimed): the caller's in-progress entry in dataset ``dataset_id`` (claimed
    False), else the best unassigned one, claimed now (claimed True).

    ``narrow(select)``, when given, applies the caller's extra filters to new claims only: an entry
    the caller already holds in the dataset is returned whatever the filters (no hoarding). Call
    inside a transaction. Concurrent calls of one caller in one dataset take turns from the look for
    their own entry to the commit, so they all get the one entry the first of them claimed; other
    callers are not held up.
    Raises NotFound when the caller cannot read the dataset (a dataset is readable exactly where its
    reader has a role in its project: ``datasets``' read scope is ``permissions.member``) or when no
    entry is left, Forbidden when the caller has no role that works entries.
    """
    dataset = role = None
    if store.key(RESOURCES["datasets"], dataset_id) is not None:
        dataset, role = caller(user, dataset_id)
    if role is None:
        raise store.not_found(RESOURCES["datasets"], dataset_id)
    steps = [s for s in machine.OPEN_STEPS if machine.fits(role, s)]
    if not steps:
        raise errors.Forbidden("You have no role in this project that works entries.")
    lock_until_commit("next", user.account_id, str(dataset.id))
    own = statements.own_entry(dataset.id, user.account_id, steps)
    if own is not None:
        return own, False
    # the head of each step's queue (one index entry each: entry_queue), then the best of them; on
    # PostgreSQL an entry another claim holds is skipped, on SQLite this transaction holds the
    # write lock (BEGIN IMMEDIATE)
    heads = [head for step in steps if (head := _head(dataset.id, step, narrow)) is not None]
    if not heads:
        raise errors.NotFound("No entry is waiting for you in this dataset.")
    claimed = min(heads, key=lambda e: (-e[1], e[2], e[0]))[0]  # Entry.queue_order's
    entry = statements.update_entry(claimed, {"assigned_to_id": user.account_id, "status": "in_progress"})
    _emit("selected", entry, {"assigned_to_id": user.account_id})
    counters.shift(dataset.id, in_progress=1)
    return entry, True


def _head(dataset_id, step, narrow):
    """(id, priority, created_at) of the first entry waiting at ``step``, narrowed by the caller's
    filters when there are some; None when none waits."""
    if narrow is None:
        return statements.queue_head(dataset_id, step)
    head = Entry.queue_order(narrow(Entry.waiting(dataset_id, [step]))).limit(1)
    if is_postgresql():
        head = head.for_update("FOR UPDATE SKIP LOCKED")
    return next(iter(head.select(Entry.id, Entry.priority, Entry.created_at).tuples()), None)
