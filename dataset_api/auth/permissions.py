"""Who may read and write what (DESIGN §6): the write rules and the queries read scopes are made of.

Each resource names its rules in its module (``Resource.write``, ``Resource.visible``); this module
says what the rules mean. Reading is scoped inside every query: what a caller may not read does not
exist for them (404). Writing something readable but not allowed is 403. "Owner" below means an
admin, an org_owner of the project's organization, or an enabled project_owner member; "worker" an
enabled reviewer or annotator member.
"""

import operator
from functools import reduce

from connexion.context import context
from peewee import SQL

from dataset_api import errors
from dataset_api.auth.roles import memberships, project_role
from dataset_api.models import Entry, Project, ProjectMember

OWNER, REVIEWER, ANNOTATOR = "project_owner", "reviewer", "annotator"
STEP_OF_ROLE = {ANNOTATOR: "annotate", REVIEWER: "review"}
NOTHING = SQL("1 = 0")

def current_user():
    """The authenticated caller of this request (set by the security handler)."""
    return context["token_info"]["user"]


def current_account_id():
    """The account of the request being served, or None outside one (the delivery worker, a CLI
    command, the server itself): who an event or a revision names."""
    try:
        return current_user().account_id
    except (KeyError, LookupError, RuntimeError, TypeError):
        return None


def _memberships(user, roles):
    return ProjectMember.select(ProjectMember.project).where(
        ProjectMember.account_id == user.account_id, ProjectMember.disabled_at.is_null(),
        ProjectMember.role.in_(roles))


def _member_in(user, project_column, roles):
    """Rows of projects where the user has an enabled membership of one of ``roles``; None when
    there are none (the condition is left out)."""
    mine = memberships(user)
    if mine is None:  # more than a request keeps in hand: the database looks them up
        return project_column.in_(_memberships(user, roles))
    projects = sorted(project for project, role in mine.items() if role in roles)
    return project_column.in_(projects) if projects else None


def any_of(*conditions):
    """The OR of the conditions that are not None; false when all are."""
    kept = [c for c in conditions if c is not None]
    return reduce(operator.or_, kept) if kept else NOTHING


def _owned(user, project_column):
    org = None
    if user.role == "org_owner" and user.orgs:
        org = project_column.in_(Project.select(Project.id).where(
            Project.organization_id.in_(list(user.orgs))))
    return _member_in(user, project_column, [OWNER]), org


def owned(user, project_column):
    """Rows of projects the user owns (membership or organization)."""
    return any_of(*_owned(user, project_column))


def worked_in(user, project_column):
    """Rows of projects where the user is a worker (reviewer or annotator); None when it is
    nowhere."""
    return _member_in(user, project_column, [REVIEWER, ANNOTATOR])


def member(user, project_column):
    """Rows of projects the user owns or works in."""
    return any_of(*_owned(user, project_column), _member_in(user, project_column, [REVIEWER, ANNOTATOR]))


def visible_entries(user):
    """Entries an owner sees, or that a worker has touched or may take at their step."""
    me = user.account_id
    waiting = [cond & (Entry.wf_step == step) for role, step in STEP_OF_ROLE.items()
               if (cond := _member_in(user, Entry.project, [role])) is not None]
    worked = _member_in(user, Entry.project, [REVIEWER, ANNOTATOR])
    if worked is not None:
        worked &= (Entry.assigned_to_id == me) | (Entry.submitted_by_id == me) | (Entry.reviewed_by_id == me)
    return any_of(*_owned(user, Entry.project), worked,
                Entry.assigned_to_id.is_null() & any_of(*waiting) if waiting else None)


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
