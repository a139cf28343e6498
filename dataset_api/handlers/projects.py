"""Handlers for /projects (operationIds projects.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import PROJECTS

search, get, post, patch, delete = handlers(PROJECTS)
