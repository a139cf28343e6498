"""Projects and their members."""

from peewee import AutoField, BigIntegerField, CharField, DateTimeField, ForeignKeyField, TextField

from dataset_api.models.base import BaseModel, UUIDModel


class Project(UUIDModel):
    name = CharField(max_length=255, index=True)
    description = TextField(null=True)
    organization_id = BigIntegerField(index=True)
    created_by_email = CharField(max_length=320, null=True, index=True)


class ProjectMember(BaseModel):
    id = AutoField()
    project = ForeignKeyField(Project, on_delete="CASCADE", index=True)
    account_id = BigIntegerField(index=True)
    name = CharField(max_length=255, null=True)
    email = CharField(max_length=320, index=True)
    role = CharField(max_length=32, index=True)
    invited_by_id = BigIntegerField(null=True, index=True)
    disabled_at = DateTimeField(null=True, index=True)

    class Meta:
        indexes = ((("project", "account_id"), True),)

    @classmethod
    def filter_enabled(cls, op, enabled):
        return cls.disabled_at.is_null(enabled)

    @classmethod
    def filter_organization_id(cls, op, value):
        """Members of the projects of one organization (or of several, with ``__in``)."""
        orgs = value if op == "in" else [value]
        return cls.project.in_(Project.select(Project.id).where(Project.organization_id.in_(orgs)))
