"""A caller's role in a project (DESIGN §6): admins and owners of the project's organization act
as project owners; other accounts act through an enabled membership."""

from connexion.context import context

from dataset_api.db import db
from dataset_api.models import Project, ProjectMember

OWNER = "project_owner"
LISTED = 500  # memberships a request keeps in hand; a caller with more is looked up by the database
_CONTEXT_KEY = "dataset_api.memberships"


def memberships(user):
    """{project id: role} of ``user``'s enabled memberships, or None when they have more than
    LISTED (then ask the database each time). Read once per request, with the request's first
    question about a role or a read scope, and read again after the request writes a membership
    (``forget_memberships``); a read scope then lists the projects instead of asking the
    database again in a subquery of every statement."""
    known = context.get(_CONTEXT_KEY)
    if known is not None and known[0] == user.account_id:
        return known[1]
    cursor = db.execute_sql(
        f'SELECT "project_id", "role" FROM "project_member" WHERE "account_id" = {db.param} '
        f'AND "disabled_at" IS NULL LIMIT {LISTED + 1}', (user.account_id,))
    rows = cursor.fetchall()
    mine = dict(rows) if len(rows) <= LISTED else None
    context[_CONTEXT_KEY] = (user.account_id, mine)
    return mine


def forget_memberships(model):
    """Called after a write to ``model``'s table: a written membership is read again."""
    if model is ProjectMember:
        context.pop(_CONTEXT_KEY, None)


def role_in(user, organization_id, member_role):
    """``user``'s role in a project of ``organization_id`` where their enabled membership has
    ``member_role`` (None: no enabled membership)."""
    if user.role == "admin" or (user.role == "org_owner" and organization_id in user.orgs):
        return OWNER
    return member_role


def project_role(user, project_id):
    """Return ``project_owner``, ``reviewer``, ``annotator`` or None for ``user`` in the project."""
    org = None
    if user.role == "org_owner" and user.orgs:
        org = Project.select(Project.organization_id).where(Project.id == project_id).scalar()
    if role_in(user, org, None) == OWNER:  # admins and the organization's owners need no membership
        return OWNER
    mine = memberships(user)
    if mine is not None:
        return mine.get(str(project_id))
    return ProjectMember.select(ProjectMember.role).where(
        ProjectMember.project == project_id, ProjectMember.account_id == user.account_id,
        ProjectMember.disabled_at.is_null()).scalar()


def enabled_member(project_id, account_id):
    """Return the project's membership of ``account_id`` (enabled or not), or None."""
    return ProjectMember.get_or_none(ProjectMember.project == project_id,
                                     ProjectMember.account_id == account_id)
