# openapi-python-client (clients/python/e2e.py, tests/test_clients_python.py).
exec "$CLIENTS_VENV/bin/python" clients/python/e2e.py --out "$CLIENTS_OUT"
