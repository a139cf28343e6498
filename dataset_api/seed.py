"""Demo data for ``dataset-api seed``: one project, an owner, a dataset and some entries."""

from dataset_api.models import Dataset, Entry, Project, ProjectMember
from dataset_api.workflow import counters


def create(entries=20):
    """Create the demo records; return a one-line summary."""
    project = Project.create(name="Demo project", organization_id=1,
                             created_by_email="admin@example.com")
    ProjectMember.create(project=project, account_id=1, email="admin@example.com",
                         name="Admin", role="project_owner", invited_by_id=1)
    dataset = Dataset.create(project=project, name="Demo images", modality="image",
                             labels=["cat", "dog"])
    for i in range(entries):
        Entry.create(dataset=dataset, project=project, resource=f"s3://demo/img-{i:05d}.jpg",
                     priority=i % 3)
    counters.recount(dataset.id)
    return f"project {project.id}, dataset {dataset.id}, {entries} entries"
