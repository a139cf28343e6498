# OpenAPI Generator `-g python`, default options: clients/openapi-generator/python/e2e.py generates,
# checks the generator's output, then drives the first session (docs/clients-openapi-generator.md).
exec "$CLIENTS_VENV/bin/python" clients/openapi-generator/python/e2e.py --out "$CLIENTS_OUT"
