"""Projects (``/projects``): the top of the tree; an organization's owners create them."""

from dataset_api import crud, rules
from dataset_api.auth import permissions
from dataset_api.models import Project
from dataset_api.registry import Attr, Include, Resource, common, register


def _project_is_itself(get):
    return {"project_id": get("id")}


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
    permit_context=_project_is_itself,
))

list_projects, get_project, create_project, update_project, delete_project = crud.handlers(PROJECTS)
