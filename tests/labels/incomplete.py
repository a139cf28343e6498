"""A resource declared without its read scope, its create rule and two of its write permissions:
start-up must stop and name them (tests/test_adding_a_resource.py)."""

from dataset_api.registry import Attr, Resource, common, register
from tests.labels.resource import Label

WIDGETS = register(Resource(
    "widgets", "dataset:widgets", Label, common(Attr("name", "string", required=True)),
    write={"create": "owner"},
))
