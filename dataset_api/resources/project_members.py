"""Project members (``/project_members``): who works in a project, in which role. A project always
keeps one enabled project owner."""

from dataset_api import crud, rules
from dataset_api.auth import permissions
from dataset_api.errors import Conflict
from dataset_api.models import ProjectMember
from dataset_api.registry import Attr, Include, Parent, Resource, common, register

ROLES = ("project_owner", "reviewer", "annotator")


def _create(resource, values, user):
    rules.check_parents(resource, values)
    values["invited_by_id"] = user.account_id


def _keep_an_owner(member):
    """409 when ``member`` is the project's last enabled project owner."""
    others = ProjectMember.select().where(
        ProjectMember.project == member.project_id, ProjectMember.role == "project_owner",
        ProjectMember.disabled_at.is_null(), ProjectMember.id != member.id).exists()
    if not others:
        raise Conflict("The project needs at least one enabled project owner: "
                       "add another one first.", code="last_owner")


def _update(resource, row, values, user):
    """The last owner stays an enabled owner."""
    if row.role == "project_owner" and row.disabled_at is None and (
            values.get("role", row.role) != "project_owner" or values.get("disabled_at") is not None):
        _keep_an_owner(row)


def _delete(resource, row):
    if row.role == "project_owner" and row.disabled_at is None:
        _keep_an_owner(row)


PROJECT_MEMBERS = register(Resource(
    "project_members", "dataset:project_members", ProjectMember,
    common(
        Attr("project_id", "id", required=True, create_only=True),
        Attr("account_id", "integer", required=True, create_only=True),
        Attr("name", "string", nullable=True),
        Attr("email", "string", required=True),
        Attr("role", "string", required=True, enum=ROLES),
        Attr("invited_by_id", "integer", readonly=True, nullable=True),
        Attr("disabled_at", "timestamp", nullable=True),
    ),
    parents={"project": Parent("project_id", "projects")},
    includes={"project": Include("projects", "project_id")},
    include_paths=("project",),
    extra_filters={"enabled": "boolean", "organization_id": "integer",
                   "organization_id__in": "integer_list"},
    id_kind="integer",
    visible=lambda user: permissions.member(user, ProjectMember.project),
    write={"create": "owner", "update": "owner", "delete": "owner"},
    before_create=_create,
    before_update=_update,
    before_delete=_delete,
    unique={"account_id": "This account is already a member of the project."},
))

(list_project_members,
 get_project_member,
 create_project_member, update_project_member, delete_project_member) = crud.handlers(PROJECT_MEMBERS)
