"""0001: projects, members, datasets, entries, annotations, note feeds and comments."""


def up(database):
    from dataset_api.models import MODELS

    database.create_tables(MODELS)
