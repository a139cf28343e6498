"""The entry state machine of ``simple_review`` (DESIGN §4), pure: no database, no HTTP.

Each action takes the entry's current state (a dict) and returns the changed columns, or raises
``Refused`` with the status a client should see (409 for the state, 422 for the request).
"""

import hashlib

ANNOTATE, REVIEW, DONE, ERROR = "annotate", "review", "done", "error"
OPEN_STEPS = (ANNOTATE, REVIEW)
# which project roles may work an entry at each step
STEP_ROLES = {ANNOTATE: ("annotator", "project_owner"), REVIEW: ("reviewer", "project_owner")}


class Refused(Exception):
    def __init__(self, status, detail, pointer=None, code=None):
        super().__init__(detail)
        self.status, self.detail, self.pointer, self.code = status, detail, pointer, code


def sampled(entry_id, sample_rate):
    """Deterministic review sampling: hash(id) mod 10 000 < rate × 10 000 (1 = always, 0 = never)."""
    bucket = int.from_bytes(hashlib.sha256(str(entry_id).encode()).digest()[:8], "big") % 10_000
    return bucket < round(float(sample_rate) * 10_000)


def fits(role, step):
    return role in STEP_ROLES.get(step, ())


def _open(entry, action):
    if entry["wf_step"] not in OPEN_STEPS:
        raise Refused(409, f"Cannot {action}: the entry is at step '{entry['wf_step']}'.",
                      code="wrong_step")


def assign(entry, account_id, member_role, member_enabled):
    """Project owner assigns ``account_id`` (or None to unassign)."""
    _open(entry, "assign")
    if account_id is None:
        return {"assigned_to_id": None, "status": "pending"}
    pointer = "/data/attributes/assigned_to_id"
    if member_role is None:
        raise Refused(422, f"Account {account_id} is not a member of the project.", pointer,
                      code="not_a_member")
    if not member_enabled:
        raise Refused(422, f"Member {account_id} is disabled.", pointer)
    if not fits(member_role, entry["wf_step"]):
        raise Refused(422, f"A {member_role} cannot work the '{entry['wf_step']}' step.", pointer)
    return {"assigned_to_id": account_id, "status": "in_progress"}


def select(entry, caller, caller_role):
    """A member whose role fits the step claims the entry (idempotent for its assignee)."""
    _open(entry, "select")
    if not fits(caller_role, entry["wf_step"]):
        raise Refused(403, f"Your role cannot work the '{entry['wf_step']}' step.")
    if entry["assigned_to_id"] == caller:
        return {}
    if entry["assigned_to_id"] is not None:
        raise Refused(409, "The entry is assigned to someone else.", code="assigned_to_other")
    return {"assigned_to_id": caller, "status": "in_progress"}


def _worker(entry, caller, caller_role, action):
    _open(entry, action)
    if entry["assigned_to_id"] != caller and caller_role != "project_owner":
        raise Refused(409, f"Only the assignee can {action} this entry.", code="not_assignee")


def submit(entry, caller, caller_role, approved, sample_rate):
    """Annotate -> review (when sampled) or done; review -> done (approved) or back to annotate."""
    _worker(entry, caller, caller_role, "submit")
    if entry["wf_step"] == ANNOTATE:
        if sampled(entry["id"], sample_rate):
            reviewer = entry["reviewed_by_id"]
            return {"wf_step": REVIEW, "submitted_by_id": caller, "assigned_to_id": reviewer,
                    "status": "in_progress" if reviewer else "pending"}
        return {"wf_step": DONE, "submitted_by_id": caller, "assigned_to_id": None,
                "status": "completed"}
    if approved is None:
        raise Refused(422, "Say whether the review is approved.", "/data/attributes/approved")
    if approved:
        return {"wf_step": DONE, "reviewed_by_id": caller, "assigned_to_id": None,
                "status": "completed"}
    annotator = entry["submitted_by_id"]
    return {"wf_step": ANNOTATE, "reviewed_by_id": caller, "assigned_to_id": annotator,
            "status": "in_progress" if annotator else "pending"}


def error(entry, caller, caller_role, message):
    """The entry cannot be worked: keep the message and the assignee for the record."""
    _worker(entry, caller, caller_role, "report an error on")
    if not message or not message.strip():
        raise Refused(422, "A message saying what is wrong is required.", "/data/attributes/message")
    return {"wf_step": ERROR, "status": "errored", "error_message": message}
