"""Who may read and write what (DESIGN §6), written once, as data plus the queries behind it.

Reading is scoped inside every query: what a caller may not read does not exist for them (404).
Writing something readable but not allowed is 403. "Owner" below means an admin, an org_owner of
the project's organization, or an enabled project_owner member; "worker" an enabled reviewer or
annotator member.
"""

from connexion.context import context

from dataset_api import errors
from dataset_api.models import Annotation, Dataset, Entry, NoteComment, NoteFeed, Project, ProjectMember

OWNER, REVIEWER, ANNOTATOR = "project_owner", "reviewer", "annotator"
STEP_OF_ROLE = {ANNOTATOR: "annotate", REVIEWER: "review"}

# (resource, action) -> who may do it, beyond reading the record (or its parent, on create)
WRITE = {
    ("projects", "create"): "org_owner",  # admin anywhere, org_owner in their organizations
    ("projects", "update"): "owner",
    ("projects", "delete"): "owner",
    ("project_members", "create"): "owner",
    ("project_members", "update"): "owner",
    ("project_members", "delete"): "owner",
    ("datasets", "create"): "owner",
    ("datasets", "update"): "owner",
    ("datasets", "delete"): "owner",
    ("entries", "create"): "owner",
    ("entries", "update"): "owner",
    ("entries", "delete"): "owner",
    ("annotations", "create"): "owner_or_assignee",
    ("annotations", "update"): "owner_or_assignee",
    ("annotations", "delete"): "owner_or_assignee",
    ("note_feeds", "create"): "reader",
    ("note_feeds", "update"): "owner_or_author",
    ("note_feeds", "delete"): "owner_or_author",
    ("note_feeds", "resolve"): "reader",
    ("note_comments", "create"): "reader",
    ("note_comments", "update"): "owner_or_author",
    ("note_comments", "delete"): "owner_or_author",
}


def current_user():
    """The authenticated caller of this request (set by the security handler)."""
    return context["token_info"]["user"]


def _memberships(user, roles):
    return ProjectMember.select(ProjectMember.project).where(
        ProjectMember.account_id == user.account_id, ProjectMember.disabled_at.is_null(),
        ProjectMember.role.in_(roles))


def _owned(user, project_column):
    """Rows of projects the user owns (membership or organization)."""
    owned = project_column.in_(_memberships(user, [OWNER]))
    if user.role == "org_owner" and user.orgs:
        owned |= project_column.in_(Project.select(Project.id).where(
            Project.organization_id.in_(list(user.orgs))))
    return owned


def _member(user, project_column):
    return _owned(user, project_column) | project_column.in_(
        _memberships(user, [OWNER, REVIEWER, ANNOTATOR]))


def _visible_entries(user):
    """Entries an owner sees, or that a worker has touched or may take at their step."""
    me = user.account_id
    waiting = None
    for role, step in STEP_OF_ROLE.items():
        cond = Entry.project.in_(_memberships(user, [role])) & (Entry.wf_step == step)
        waiting = cond if waiting is None else waiting | cond
    worked = ((Entry.assigned_to_id == me) | (Entry.submitted_by_id == me)
              | (Entry.reviewed_by_id == me)) & Entry.project.in_(_memberships(user, [REVIEWER, ANNOTATOR]))
    return _owned(user, Entry.project) | worked | (Entry.assigned_to_id.is_null() & waiting)


def visible(resource_name, user):
    """Return the WHERE condition of what ``user`` may read of a resource (None: everything)."""
    if user.role == "admin":
        return None
    if resource_name == "projects":
        return _member(user, Project.id)
    if resource_name in ("project_members", "datasets"):
        model = ProjectMember if resource_name == "project_members" else Dataset
        return _member(user, model.project)
    if resource_name == "entries":
        return _visible_entries(user)
    entries = Entry.select(Entry.id).where(_visible_entries(user))
    if resource_name == "annotations":
        return _owned(user, Annotation.project) | Annotation.entry.in_(entries)
    feeds = NoteFeed.select(NoteFeed.id).where(_owned(user, NoteFeed.project) | NoteFeed.entry.in_(entries))
    if resource_name == "note_feeds":
        return NoteFeed.id.in_(feeds)
    return NoteComment.note_feed.in_(feeds)


def scope(resource, select):
    """Narrow ``select`` to what the current caller may read."""
    condition = visible(resource.name, current_user())
    return select if condition is None else select.where(condition)


def owns(user, project_id):
    if user.role == "admin":
        return True
    if user.role == "org_owner" and user.orgs:
        org = Project.select(Project.organization_id).where(Project.id == project_id).scalar()
        if org in user.orgs:
            return True
    return ProjectMember.select().where(
        ProjectMember.project == project_id, ProjectMember.account_id == user.account_id,
        ProjectMember.disabled_at.is_null(), ProjectMember.role == OWNER).exists()


def require(resource_name, action, user, *, project_id=None, organization_id=None, entry=None,
            author=None):
    """Raise 403 unless ``user`` may do ``action`` on a record it can already read."""
    rule = WRITE[(resource_name, action)]
    if user.role == "admin" or rule == "reader":
        return
    if rule == "org_owner":
        allowed = user.role == "org_owner" and organization_id in user.orgs
    elif owns(user, project_id):
        allowed = True
    elif rule == "owner_or_assignee":
        allowed = entry is not None and entry.assigned_to_id == user.account_id
    elif rule == "owner_or_author":
        allowed = author is not None and author == user.email
    else:
        allowed = False
    if not allowed:
        raise errors.Forbidden(f"You may not {action} {resource_name.replace('_', ' ')} here.")
