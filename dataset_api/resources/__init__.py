"""The resources, one module each: declaration, write rules, permissions, read scope and extra
operations. Importing this package imports every module in it, which declares them all in
``dataset_api.registry``; a new module here is picked up as it is. To add one, see the README's
"Adding a resource"."""

import importlib
import pkgutil

from dataset_api import registry

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def load(modules=(), document=None):
    """Import the resource modules named in ``modules`` (besides this package's), then check that
    every declared resource is complete and agrees with the contract ``document`` (a dict):
    ``registry.IncompleteResource`` names what is not."""
    for name in modules:
        importlib.import_module(name)
    registry.verify(document)
