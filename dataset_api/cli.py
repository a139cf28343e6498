"""The ``dataset-api`` command: serve, worker, migrate, token, recount, seed; import and export,
the clients of a running server (dataset_api/client.py)."""

import argparse
import functools
import glob
import logging
import os
import re
import sys
import urllib.parse
import warnings

from dataset_api.config import Config
from dataset_api.processes import die_with_parent
from dataset_api.registry import IncompleteResource

# Request targets: the app refuses those over middleware.MAX_TARGET_BYTES (64 KiB) with a JSON:API
# 414; a worker buffers at most URL_BUFFER_BYTES of one before answering that 414 itself.
URL_BUFFER_BYTES = 1024 * 1024
# A request head (request line and headers) is refused once it holds more bytes than any that
# could pass both limits: a worker never buffers an unbounded header.
HEAD_BUFFER_BYTES = URL_BUFFER_BYTES + 2 * 64 * 1024
LINGER_BYTES, LINGER_SECONDS = 16 * 1024 * 1024, 2  # after refusing, read on (and drop) at most
PARSE_URL_MAX = 2**16 - 1  # httptools.parse_url refuses longer URLs (its offsets are 16-bit)
_ABSOLUTE_FORM = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


@functools.cache
def worker_class():
    """gunicorn's uvicorn worker on an HTTP protocol that answers like the app does.

    uvicorn (httptools, which it picks when installed, as ``uvicorn[standard]`` does) answers a
    request it cannot parse with ``400 text/plain "Invalid HTTP request received."``, and a target
    over 65,535 bytes is one of them (httptools.parse_url's limit). This protocol hands targets up
    to URL_BUFFER_BYTES to the app, whose Gatekeeper answers 414 as JSON:API past 64 KiB; past the
    buffer it answers that 414 itself, headers past middleware.MAX_HEADER_FIELDS or MAX_HEADER_BYTES
    with a JSON:API 431, and every other parse failure as a JSON:API 400, then drops what the client
    still sends for a moment, so that closing does not reset the connection before the client has
    read the answer. No upgrade is offered (``ws: none``; RFC 9110 §7.8 lets a server decline):
    a request that offers one (``Connection: Upgrade``, e.g. Java's HttpClient offers ``h2c`` on
    every request) is read and answered as HTTP/1.1, body included. httptools stops at the end
    of such a request's head and leaves its body unread (uvicorn#2722), so the head is read again,
    without the offer, by a fresh parser, followed by the bytes after it.
    """
    import httptools
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    from uvicorn_worker import UvicornWorker

    from dataset_api import middleware
    from dataset_api.errors import ApiError
    from dataset_api.events import live

    class Protocol(HttpToolsProtocol):
        refusal = None
        lingering = None  # bytes read and dropped since a refusal was sent (or deferred)
        deferred = None  # a refusal waiting for the answer to the request read before it
        head_bytes = 0  # bytes received while a request head is incomplete (None: it is complete)
        header_bytes = 0

        def data_received(self, data):
            if self.lingering is not None:
                self.lingering += len(data)  # drain what the client is still sending, so that
                if self.lingering > LINGER_BYTES:  # closing does not reset the connection before
                    self.transport.close()  # it has read the answer
                return None
            try:
                self.parser.feed_data(data)  # as uvicorn, but an upgrade is declined (see above)
            except httptools.HttpParserUpgrade as exc:
                if self._should_upgrade():
                    return self._decline_upgrade(data[exc.args[0]:])
                return None  # CONNECT: answered as any request (uvicorn started its cycle)
            except httptools.HttpParserError:
                self.send_400_response("Invalid HTTP request received.")
                return None
            finally:
                self._unset_keepalive_if_required()
            if self.head_bytes is not None and self.lingering is None:
                self.head_bytes += len(data)  # a header too long is refused here, the parser
                if self.head_bytes > HEAD_BUFFER_BYTES:  # buffering it whole otherwise
                    self.refusal = middleware.headers_too_large()
                    self.send_400_response("request head too long")
            return None

        def _should_upgrade(self):
            """Whether the request offers an upgrade: uvicorn then leaves it to ``data_received``
            (no cycle is started for its head), which declines it."""
            return self._get_upgrade() is not None

        def _decline_upgrade(self, rest):
            connection = [token.strip() for name, value in self.headers if name == b"connection"
                          for token in value.split(b",")]
            kept = [token for token in connection if token.lower() not in (b"upgrade", b"http2-settings")]
            head = [b"%s %s HTTP/%s" % (self.parser.get_method(), self.url,
                                        self.parser.get_http_version().encode())]
            head += [name + b": " + value for name, value in self.headers
                     if name not in (b"connection", b"upgrade", b"http2-settings")]
            if kept:
                head.append(b"connection: " + b", ".join(kept))
            self.parser = httptools.HttpRequestParser(self)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            self.head_bytes = 0
            return self.data_received(b"\r\n".join(head) + b"\r\n\r\n" + rest)

        def on_message_begin(self):
            super().on_message_begin()
            self.refusal = None
            self.header_bytes = 0

        def on_header(self, name, value):
            super().on_header(name, value)
            self.header_bytes += len(name) + len(value)
            if len(self.headers) > middleware.MAX_HEADER_FIELDS \
                    or self.header_bytes > middleware.MAX_HEADER_BYTES:
                self.refusal = middleware.headers_too_large()
                raise ValueError("request headers too large")  # the parser stops: send_400_response

        def on_message_complete(self):
            super().on_message_complete()
            self.head_bytes = 0  # the next request on this connection starts its head

        def on_response_complete(self):
            super().on_response_complete()
            if self.deferred is not None and self.cycle.response_complete:  # the last one read
                msg, self.deferred = self.deferred, None
                self._unset_keepalive_if_required()
                if not self.transport.is_closing():
                    self.refuse(msg)

        def on_url(self, url):
            super().on_url(url)
            if len(self.url) > URL_BUFFER_BYTES:
                self.refusal = middleware.too_long(URL_BUFFER_BYTES, exact=False)
                raise ValueError("request target too long")  # the parser stops: send_400_response

        def on_headers_complete(self):
            self.head_bytes = None
            target = self.url
            if len(target) <= PARSE_URL_MAX:
                return super().on_headers_complete()
            self.url = b"/"  # a stand-in parse_url can read; the real target goes in the scope
            try:
                super().on_headers_complete()
            finally:
                self.url = target
            raw, _, query = target.partition(b"#")[0].partition(b"?")
            absolute = _ABSOLUTE_FORM.match(raw)
            raw = (raw[absolute.end():] or b"/") if absolute else raw
            path = raw.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            self.scope["path"] = self.root_path + path
            self.scope["raw_path"] = self.root_path.encode("ascii") + raw
            self.scope["query_string"] = query

        def shutdown(self):
            """The server stops: the event streams end now (each would hold its connection, and
            the graceful shutdown, until the timeout)."""
            live.HUB.close_all()
            super().shutdown()

        def send_400_response(self, msg):
            """Refuse what could not be parsed, after answering the requests read whole before it
            (HTTP/1.1 answers in order): uvicorn answers at once, so the answer of a request
            followed by bad bytes was lost, or written after the refusal's end of stream (an
            unhandled "Cannot call write() after write_eof()")."""
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                if not cycle.more_body:  # read whole: its answer goes first, then the refusal
                    self.deferred, self.lingering = msg, 0
                    return None
                cycle.disconnected = True  # cut off mid-body: the refusal is its answer, and the
                cycle.message_event.set()  # app sees the client gone (it writes nothing then)
            return self.refuse(msg)

        def refuse(self, msg):
            exc = self.refusal or ApiError("Malformed HTTP/1.1 request.", status=400)
            body, media = middleware.error_payload(
                exc, rpc=(self.url or b"").startswith(middleware.RPC_PATH.encode()))
            content = [STATUS_LINE[exc.status]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend([b"content-type: ", media.encode(), b"\r\n",
                            b"content-length: ", str(len(body)).encode(), b"\r\n",
                            b"connection: close\r\n\r\n", body])
            self.transport.write(b"".join(content))
            if not self.transport.can_write_eof():
                return self.transport.close()
            self.transport.write_eof()
            self.lingering = 0
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

    class Worker(UvicornWorker):
        CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "http": Protocol, "ws": "none"}

        def init_process(self):
            die_with_parent(self.ppid)
            super().init_process()

    Worker.Protocol = Protocol
    return Worker


METRICS_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def metrics_directory(config):
    """Prepare the workers' Prometheus multiprocess folder: create it, delete the files an earlier
    run left (prometheus-client's own files only, the folder may be shared), and name it in
    ``PROMETHEUS_MULTIPROC_DIR``. Call before anything imports prometheus_client, which picks its
    storage at import; the workers, forked from this process, inherit the variable."""
    path = config.metrics_path
    os.makedirs(path, exist_ok=True)
    for pattern in METRICS_FILES:
        for stale in glob.glob(os.path.join(path, pattern)):
            os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def worker_exited(server, worker):
    """gunicorn's child_exit hook: drop the exited worker's live gauges (its pool series); its
    counters stay, so totals never go down when a worker is replaced."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(args, config):
    """Run gunicorn with uvicorn workers; migrations run once, before the workers fork."""
    metrics_directory(config)  # first: the imports below bring prometheus_client in
    from gunicorn.app.base import BaseApplication

    from dataset_api import migrations, resources, spec
    from dataset_api.auth import tokens
    from dataset_api.db import bind

    # an incomplete declaration, or one the contract contradicts, stops here, named
    resources.load(config.resource_modules, spec.document(config.spec_path or spec.PATH))
    database = bind(config.db_url)
    migrations.migrate(database)
    database.close_all()
    if not config.jwt_public_key and not config.jwt_secret:
        tokens.data_dir_secret(config.data_dir)  # created once, before workers race for it
    if not config.cursor_key:
        tokens.cursor_key(config)  # the same for the key of page[cursor]

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", worker_class())
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 60)
            self.cfg.set("child_exit", worker_exited)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 27: no shared socket
                self.cfg.set("control_socket_disable", True)

        def load(self):
            from dataset_api.app import create_app

            return create_app(config)

    server = Server()
    # the master imported the metrics too (resources, worker class) but never serves: no series
    # of its own among the workers' live gauges
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())
    child = delivery_worker() if args.worker else None
    try:
        server.run()
    finally:
        if child is not None:
            child.terminate()
            child.wait(30)


def delivery_worker():
    """Start ``dataset-api worker`` as a child of this process; it stops when this process ends
    (SIGTERM from here, or from the kernel if this process is killed)."""
    import subprocess

    return subprocess.Popen([sys.executable, "-m", "dataset_api", "worker", "--parent-pid",
                             str(os.getpid())])


def worker(args, config):
    """Deliver events to webhooks and Redis until stopped (docs/events.md)."""
    from dataset_api.events import worker as delivery

    delivery.main(config, parent_pid=args.parent_pid)


def migrate(args, config):
    from dataset_api import migrations
    from dataset_api.db import bind

    applied = migrations.migrate(bind(config.db_url))
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "schema is up to date")


def token(args, config):
    from dataset_api.auth import tokens

    if config.jwt_public_key:
        sys.exit("a public key is configured: tokens come from your identity provider")
    secret = config.jwt_secret or tokens.data_dir_secret(config.data_dir)
    print(tokens.issue(secret, account_id=args.account_id, email=args.email, role=args.role,
                       name=args.name, orgs=args.org, ttl=args.ttl))


def recount(args, config):
    from dataset_api import migrations
    from dataset_api.db import bind
    from dataset_api.workflow import counters

    database = bind(config.db_url)
    migrations.migrate(database)
    with database.connection_context(), database.atomic():
        n = counters.recount(args.dataset_id)
    print(f"recounted {n} dataset(s)")


def seed(args, config):
    from dataset_api import migrations
    from dataset_api import seed as demo
    from dataset_api.db import bind

    database = bind(config.db_url)
    migrations.migrate(database)
    with database.connection_context(), database.atomic():
        print(demo.create(entries=args.entries))


def bulk_import(args, config):
    """Import a file through a server's HTTP API; the server's settings (``config``) play no part."""
    from dataset_api import client

    sys.exit(client.run_import(args))


def bulk_export(args, config):
    """Export a dataset through a server's HTTP API; the server's settings play no part."""
    from dataset_api import client

    sys.exit(client.run_export(args))


def positive(text):
    """argparse type: an integer of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def filter_pair(text):
    """argparse type of ``--filter NAME=VALUE``: the query parameter ``filter[NAME]`` and its value."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return f"filter[{name}]", value


def command(sub, name, help):  # noqa: A002 - argparse's name
    """A command's parser, whose ``--help`` opens with what it does."""
    return sub.add_parser(name, help=help, description=help)


def client_parser(sub, name, help):  # noqa: A002
    """A client command's parser, with the options every client command takes."""
    c = command(sub, name, help)
    c.add_argument("--url", default=os.environ.get("DATASET_API_URL", "http://127.0.0.1:8000"),
                   help="the server (env DATASET_API_URL; default %(default)s)")
    c.add_argument("--token", default=os.environ.get("DATASET_API_TOKEN"),
                   help="bearer token (env DATASET_API_TOKEN)")
    c.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   help="draw the progress display even when stderr is not a terminal (default: only "
                        "on a terminal)")
    return c


def parser():
    p = argparse.ArgumentParser(prog="dataset-api", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = command(sub, "serve", "run the HTTP server (gunicorn + uvicorn workers)")
    s.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default %(default)s; 0.0.0.0 for every interface)")
    s.add_argument("--port", type=int, default=int(os.environ.get("DATASET_API_PORT", 8000)),
                   help="the port to listen on (env DATASET_API_PORT; default %(default)s)")
    s.add_argument("--workers", type=int, default=int(os.environ.get("DATASET_API_WORKERS", 2)),
                   help="worker processes serving requests (env DATASET_API_WORKERS; default %(default)s)")
    s.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                   help="run the event delivery worker as a child process (default: yes; --no-worker "
                        "when `dataset-api worker` runs elsewhere)")
    s.set_defaults(func=serve)
    w = command(sub, "worker", "deliver events to webhooks and Redis (docs/events.md)")
    w.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    w.set_defaults(func=worker)
    command(sub, "migrate", "apply pending schema migrations").set_defaults(func=migrate)
    t = command(sub, "token", "print a signed token for the data folder's secret")
    t.add_argument("--account-id", type=int, required=True, help="the account's id (the token's sub)")
    t.add_argument("--email", required=True, help="the account's email")
    t.add_argument("--role", choices=("admin", "org_owner", "user"), default="user",
                   help="admin owns every project, org_owner those of its --org organizations, user "
                        "has its project memberships' roles (docs/permissions.md; default: %(default)s)")
    t.add_argument("--name", help="the account's display name")
    t.add_argument("--org", type=int, action="append", default=[], help="organization id (repeat)")
    t.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    t.set_defaults(func=token)
    r = command(sub, "recount", "rebuild dataset counters from their entries")
    r.add_argument("--dataset-id", help="only this dataset (default: every dataset)")
    r.set_defaults(func=recount)
    d = command(sub, "seed", "create a demo project, dataset and entries")
    d.add_argument("--entries", type=int, default=20, help="how many entries (default: %(default)s)")
    d.set_defaults(func=seed)
    i = client_parser(sub, "import", "import entries from an NDJSON or CSV file into a dataset")
    i.add_argument("file", help="the file (.jsonl, .ndjson or .csv)")
    i.add_argument("--dataset", required=True, help="dataset id")
    i.add_argument("--format", choices=("ndjson", "csv"), help="default: from the file's extension")
    i.add_argument("--on-conflict", choices=("error", "skip", "update"), default="error",
                   help="an entry of the same resource exists (default: %(default)s)")
    i.add_argument("--partial", action="store_true", help="write the good lines when some are refused")
    i.add_argument("--chunk-size", type=positive, metavar="N",
                   help="send N records per request, skipping those already there (resumable)")
    i.set_defaults(func=bulk_import)
    e = client_parser(sub, "export", "export a dataset's entries to a file")
    e.add_argument("--dataset", required=True, help="dataset id")
    e.add_argument("--format", choices=("jsonl", "csv", "coco"), required=True,
                   help="NDJSON, CSV (both import again) or COCO (image datasets)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="written whole or not at all")
    e.add_argument("--filter", type=filter_pair, action="append", default=[], metavar="NAME=VALUE",
                   help="an entries filter, e.g. wf_step=done (repeat)")
    e.set_defaults(func=bulk_export)
    return p


def main(argv=None):
    # connexion.apps.abstract imports starlette.testclient at import time, which warns that it runs
    # on httpx; nothing here uses the test client (docs/design-choices.md)
    warnings.filterwarnings("ignore", r"Using `httpx` with `starlette\.testclient` is deprecated",
                            module=r"connexion\.apps\.abstract$")
    args = parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("DATASET_API_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        args.func(args, Config.from_env())
    except IncompleteResource as exc:
        sys.exit(f"dataset-api: {exc}")


if __name__ == "__main__":
    main()
