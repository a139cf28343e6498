"""Handlers for /datasets (listDatasets, get/create/update/deleteDataset)."""

from dataset_api.crud import handlers
from dataset_api.resources import DATASETS

list_datasets, get_dataset, create_dataset, update_dataset, delete_dataset = handlers(DATASETS)
