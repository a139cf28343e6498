"""A resource added from the test suite alone, as the README's "Adding a resource" describes:
its module (``resource.py``), its migration (``migration.py``) and its spec fragment
(``openapi.yaml``). tests/test_adding_a_resource.py serves it and drives it over HTTP."""
