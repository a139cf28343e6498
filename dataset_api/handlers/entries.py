"""Handlers for /entries (operationIds entries.search/get/post/patch/delete)."""

from dataset_api.crud import handlers
from dataset_api.resources import ENTRIES

search, get, post, patch, delete = handlers(ENTRIES)
