"""The contract as served: ``openapi.yaml`` as written (named components, ``$ref``s, examples) at
``/openapi.json`` and ``/openapi.yaml``, with a ``servers`` entry naming where it was fetched from.

Connexion would serve its resolved copy (every ``$ref`` inlined, ``servers: [{url: ''}]``), which
generators turn into anonymous, duplicated types; so its own spec routes are off and this layer
answers instead (DESIGN §9).
"""

import ipaddress
import json
from functools import lru_cache
from pathlib import Path

import yaml

# The package carries the document (a link to the repository's openapi.yaml, copied into wheels):
# every reader finds it here, so an installed wheel reads what a checkout reads.
PATH = Path(__file__).resolve().parent / "openapi.yaml"
ROUTES = {"/openapi.json": "application/json", "/openapi.yaml": "application/yaml"}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML without implicit timestamps: an example's date stays the string it is in JSON. LibYAML's
    parser where PyYAML has it (its wheels do): 0.35 s of CPU for openapi.yaml instead of 1.6 s."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=4)
def document(path=PATH):
    """Return the authored document at ``path`` as a dict (loaded once per process)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - safe loader


def trusted_networks(text):
    """Parse ``DATASET_API_TRUSTED_PROXIES`` ("10.0.0.1, 10.1.0.0/16") into networks."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in (text or "").split(",") if part.strip())


def _trusted(client, networks):
    if not client or not networks:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in net for net in networks)


def base_url(scope, public_url="", networks=()):
    """The URL clients reach the API at: the configured public URL, else the request's own
    (``X-Forwarded-Proto/Host/Prefix`` only from a trusted proxy)."""
    if public_url:
        return public_url.rstrip("/")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    scheme, host = scope.get("scheme", "http"), headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    prefix = scope.get("root_path", "")
    if _trusted(scope.get("client"), networks):
        first = lambda name: headers[name].split(",")[0].strip()  # noqa: E731 - the nearest proxy's
        scheme = first("x-forwarded-proto") if "x-forwarded-proto" in headers else scheme
        host = first("x-forwarded-host") if "x-forwarded-host" in headers else host
        prefix = first("x-forwarded-prefix") if "x-forwarded-prefix" in headers else prefix
    return f"{scheme}://{host}{prefix}".rstrip("/")


@lru_cache(maxsize=64)
def render(path, url, media_type):
    """Return the bytes of the document at ``path`` with ``servers`` pointing at ``url``."""
    doc = dict(document(path), servers=[{"url": url, "description": "This server."}])
    if media_type == "application/json":
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110).encode("utf-8")


class ServeSpec:
    """ASGI layer answering ``GET /openapi.json`` and ``GET /openapi.yaml``."""

    def __init__(self, app, path=PATH, public_url="", trusted_proxies=()):
        self.app, self.path, self.public_url, self.networks = app, path, public_url, trusted_proxies

    async def __call__(self, scope, receive, send):
        media_type = ROUTES.get(scope.get("path")) if scope["type"] == "http" else None
        if media_type is None or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        body = render(self.path, base_url(scope, self.public_url, self.networks), media_type)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", f"{media_type}; charset=utf-8".encode()),
            (b"content-length", str(len(body)).encode()),
            (b"access-control-allow-origin", b"*")]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
