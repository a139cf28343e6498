"""Handlers for /project_members (listProjectMembers, get/create/update/deleteProjectMember)."""

from dataset_api.crud import handlers
from dataset_api.resources import PROJECT_MEMBERS

(list_project_members,
 get_project_member,
 create_project_member, update_project_member, delete_project_member) = handlers(PROJECT_MEMBERS)
