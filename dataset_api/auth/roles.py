"""A caller's role in a project (DESIGN §6): admins and owners of the project's organization act
as project owners; other accounts act through an enabled membership."""

from dataset_api.models import Project, ProjectMember

OWNER = "project_owner"


def project_role(user, project_id):
    """Return ``project_owner``, ``reviewer``, ``annotator`` or None for ``user`` in the project."""
    if user.role == "admin":
        return OWNER
    if user.role == "org_owner" and user.orgs:
        org = Project.select(Project.organization_id).where(Project.id == project_id).scalar()
        if org in user.orgs:
            return OWNER
    return ProjectMember.select(ProjectMember.role).where(
        ProjectMember.project == project_id, ProjectMember.account_id == user.account_id,
        ProjectMember.disabled_at.is_null()).scalar()


def enabled_member(project_id, account_id):
    """Return the project's membership of ``account_id`` (enabled or not), or None."""
    return ProjectMember.get_or_none(ProjectMember.project == project_id,
                                     ProjectMember.account_id == account_id)
