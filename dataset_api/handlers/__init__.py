"""Connexion handlers, one module per resource, named by the ``operationId``s of openapi.yaml."""
