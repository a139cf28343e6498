"""Handlers for /datasets (operationIds datasets.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import DATASETS

search, get, post, patch, delete = handlers(DATASETS)
