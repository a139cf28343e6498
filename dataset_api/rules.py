"""Write-rule building blocks that resources share: parents that must exist, attributes derived
from a parent, the author's stamp, the edit time. Each resource's own rules live in its module
under ``dataset_api.resources``; these know no resource by name."""

from dataset_api.errors import NotFound
from dataset_api.models import utcnow
from dataset_api.registry import RESOURCES
from dataset_api.store import get_or_404


def parent(resource, values, relationship):
    """Return the parent row named by ``relationship``; 404 with a pointer when it is missing or
    hidden from the caller."""
    link = resource.parents[relationship]
    try:
        return get_or_404(RESOURCES[link.resource], str(values[link.attr]))
    except NotFound:
        raise missing(resource, values, relationship) from None


def missing(resource, values, relationship):
    link = resource.parents[relationship]
    return NotFound(f"{link.attr} {values[link.attr]!r} does not exist.",
                    pointer=f"/data/attributes/{link.attr}")


def derive(resource, values, relationship, parent_row=None):
    """Copy the attributes derived from the parent (read unless given); return the parent row."""
    if parent_row is None:
        parent_row = parent(resource, values, relationship)
    for attr, (rel, parent_attr) in resource.derived.items():
        if rel == relationship:
            values[attr] = getattr(parent_row, parent_attr)
    return parent_row


def check_parents(resource, values):
    """404 unless every parent given in ``values`` exists and the caller may read it."""
    for name, link in resource.parents.items():
        if link.attr in values and not resource.attributes[link.attr].readonly:
            parent(resource, values, name)


def stamp_author(values, user):
    values["created_by_email"] = user.email


def with_parents_and_author(resource, values, user):
    """The create rule of a record whose parents are given and that records its author."""
    check_parents(resource, values)
    stamp_author(values, user)


def mark_edited(resource, row, values, user):
    """Texts that record when they last changed (note feeds, comments)."""
    if "content_md" in values and values["content_md"] != row.content_md:
        values["edited_at"] = utcnow()
