"""Handlers for /projects (listProjects, get/create/update/deleteProject)."""

from dataset_api.crud import handlers
from dataset_api.resources import PROJECTS

list_projects, get_project, create_project, update_project, delete_project = handlers(PROJECTS)
