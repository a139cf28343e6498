"""Handlers for /project_members (operationIds project_members.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import PROJECT_MEMBERS

search, get, post, patch, delete = handlers(PROJECT_MEMBERS)
