"""Who may read and write what (DESIGN §6): the write rules and the queries read scopes are made of.

Each resource names its rules in its module (``Resource.write``, ``Resource.visible``); this module
says what the rules mean. Reading is scoped inside every query: what a caller may not read does not
exist for them (404). Writing something readable but not allowed is 403. "Owner" below means an
admin, an org_owner of the project's organization, or an enabled project_owner member; "worker" an
enabled reviewer or annotator member.
"""

from connexion.context import context

from dataset_api import errors
from dataset_api.auth.roles import project_role
from dataset_api.models import Entry, Project, ProjectMember

OWNER, REVIEWER, ANNOTATOR = "project_owner", "reviewer", "annotator"
STEP_OF_ROLE = {ANNOTATOR: "annotate", REVIEWER: "review"}

def current_user():
    """The authenticated caller of this request (set by the security handler)."""
    return context["token_info"]["user"]


def _memberships(user, roles):
    return ProjectMember.select(ProjectMember.project).where(
        ProjectMember.account_id == user.account_id, ProjectMember.disabled_at.is_null(),
        ProjectMember.role.in_(roles))


def owned(user, project_column):
    """Rows of projects the user owns (membership or organization)."""
    condition = project_column.in_(_memberships(user, [OWNER]))
    if user.role == "org_owner" and user.orgs:
        condition |= project_column.in_(Project.select(Project.id).where(
            Project.organization_id.in_(list(user.orgs))))
    return condition


def member(user, project_column):
    """Rows of projects the user owns or works in."""
    return owned(user, project_column) | project_column.in_(
        _memberships(user, [OWNER, REVIEWER, ANNOTATOR]))


def visible_entries(user):
    """Entries an owner sees, or that a worker has touched or may take at their step."""
    me = user.account_id
    waiting = None
    for role, step in STEP_OF_ROLE.items():
        cond = Entry.project.in_(_memberships(user, [role])) & (Entry.wf_step == step)
        waiting = cond if waiting is None else waiting | cond
    worked = ((Entry.assigned_to_id == me) | (Entry.submitted_by_id == me)
              | (Entry.reviewed_by_id == me)) & Entry.project.in_(_memberships(user, [REVIEWER, ANNOTATOR]))
    return owned(user, Entry.project) | worked | (Entry.assigned_to_id.is_null() & waiting)


def scope(resource, select):
    """Narrow ``select`` to what the current caller may read (an admin reads everything)."""
    user = current_user()
    return select if user.role == "admin" else select.where(resource.visible(user))


def require(resource, action, user, *, project_id=None, organization_id=None, entry=None,
            author=None):
    """Raise 403 unless ``user`` may do ``action`` on a record of ``resource`` it can already read."""
    rule = resource.write[action]
    if user.role == "admin" or rule == "reader":
        return
    if rule == "org_owner":
        allowed = user.role == "org_owner" and organization_id in user.orgs
    elif project_role(user, project_id) == OWNER:
        allowed = True
    elif rule == "owner_or_assignee":
        allowed = entry is not None and entry.assigned_to_id == user.account_id
    elif rule == "owner_or_author":
        allowed = author is not None and author == user.email
    else:
        allowed = False
    if not allowed:
        raise errors.Forbidden(f"You may not {action} {resource.name.replace('_', ' ')} here.")
