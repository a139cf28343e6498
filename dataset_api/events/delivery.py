"""One delivery attempt to a webhook: the target's address checked (SSRF), the request sent to that
very address, the outcome measured. No database access here."""

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from dataset_api.events import signing

USER_AGENT = "dataset-api-webhooks/1"
MAX_ERROR_CHARS = 500


class Refused(Exception):
    """The target may not be called (its address is private, or does not resolve)."""


@dataclass
class Outcome:
    ok: bool
    response_code: int | None
    duration_ms: float
    error: str | None


def body(event_name, created_at, payload):
    """The Standard Webhooks body: ``{type, timestamp, data}``, compact JSON text."""
    return json.dumps({"type": event_name, "timestamp": created_at, "data": payload},
                      separators=(",", ":"), ensure_ascii=False)


def resolve(url, allow_private):
    """The address to connect to for ``url``: its host resolved now, at delivery time; ``Refused``
    when it names a private, loopback, link-local or otherwise non-global address (unless
    ``allow_private``), so a webhook cannot reach inside the network the server runs in."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"{parts.hostname} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not allow_private and not mapped.is_global:
            raise Refused(f"{parts.hostname} resolves to {address}, which is not a public address "
                          "(DATASET_API_WEBHOOK_ALLOW_PRIVATE allows it)")
    return addresses[0]


def pinned(url, address):
    """(``url`` with its host replaced by ``address``, the Host header, the TLS server name): the
    request goes to the address that was checked, not to a second lookup's answer."""
    parts = urlsplit(url)

    def netloc(host, version):
        host = f"[{host}]" if version == 6 else host
        return host if parts.port is None else f"{host}:{parts.port}"

    named = 6 if ":" in parts.hostname else 4  # only an IPv6 literal holds a colon
    target = urlunsplit((parts.scheme, netloc(str(address), address.version), parts.path or "/",
                         parts.query, ""))
    return target, netloc(parts.hostname, named), parts.hostname


def attempt(client, url, message_id, text, secrets, *, allow_private, timeout):
    """POST ``text`` to ``url`` signed with ``secrets``; return its ``Outcome`` (2xx is success;
    redirects are not followed)."""
    start = time.perf_counter()
    try:
        target, host_header, server_name = pinned(url, resolve(url, allow_private))
        headers = {**signing.headers(message_id, text, secrets), "content-type": "application/json",
                   "user-agent": USER_AGENT, "host": host_header}
        # streamed: only the start of the answer is read, however much the receiver sends
        with client.stream("POST", target, content=text.encode(), headers=headers, timeout=timeout,
                           extensions={"sni_hostname": server_name}) as response:
            code = response.status_code
            head = b"" if 200 <= code < 300 else next(response.iter_bytes(), b"")[:200]
    except (Refused, httpx.HTTPError, OSError, ValueError) as exc:
        return Outcome(False, None, _ms(start), f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
    ok = 200 <= code < 300
    error = None if ok else f"HTTP {code}: {head.decode('utf-8', 'replace')}"[:MAX_ERROR_CHARS]
    return Outcome(ok, code, _ms(start), error)


def _ms(start):
    return round((time.perf_counter() - start) * 1000, 3)
