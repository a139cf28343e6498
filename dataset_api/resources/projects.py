"""Projects (``/projects``): the top of the tree; an organization's owners create them."""

from dataset_api import crud, errors, rules
from dataset_api.auth import permissions
from dataset_api.models import Project
from dataset_api.registry import Attr, Include, Resource, common, register


def _project_is_itself(get):
    return {"project_id": get("id")}


def _stay_in_organization(resource, row, values, user):
    """A project moves to another organization only for a caller who may create a project there
    (DESIGN §2: admins anywhere, org_owners into their organizations); owning it is not enough."""
    target = values.get("organization_id", row.organization_id)
    if target == row.organization_id:
        return
    try:
        permissions.require(resource, "create", user, organization_id=target)
    except errors.Forbidden:
        raise errors.Forbidden(
            f"You may not move this project to organization {target}: that needs the right to create "
            "a project there.", pointer="/data/attributes/organization_id") from None


PROJECTS = register(Resource(
    "projects", "dataset:projects", Project,
    common(
        Attr("name", "string", required=True),
        Attr("description", "string", nullable=True),
        Attr("organization_id", "integer", required=True),
        Attr("created_by_email", "string", readonly=True),
    ),
    includes={"datasets": Include("datasets", "project_id", many=True),
              "project_members": Include("project_members", "project_id", many=True)},
    include_paths=("datasets", "project_members"),
    visible=lambda user: permissions.member(user, Project.id),
    # admins anywhere, org_owners in their organizations
    write={"create": "org_owner", "update": "owner", "delete": "owner"},
    before_create=lambda resource, values, user: rules.stamp_author(values, user),
    before_update=_stay_in_organization,
    permit_context=_project_is_itself,
))

list_projects, get_project, create_project, update_project, delete_project = crud.handlers(PROJECTS)
