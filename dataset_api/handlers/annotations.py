"""Handlers for /annotations (operationIds annotations.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import ANNOTATIONS

search, get, post, patch, delete = handlers(ANNOTATIONS)
