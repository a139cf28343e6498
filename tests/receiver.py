"""A real HTTP receiver of webhook deliveries on 127.0.0.1, for tests and bench/events.py: it
records every request (headers and body) and answers as scripted."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``answers``: status codes to give, in order, before answering 200 for good; ``hang``: seconds
    to wait before answering the first ``hang_first`` requests (a receiver slow to answer)."""

    def __init__(self, answers=(), hang=0.0, hang_first=0):
        self.answers, self.hang, self.hang_first = list(answers), hang, hang_first
        self.received = []  # (headers dict, body text)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server name
                text = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, text))
                    n = len(receiver.received)
                    status = receiver.answers.pop(0) if receiver.answers else 200
                if n <= receiver.hang_first:
                    time.sleep(receiver.hang)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                """A sender that goes away (a worker killed, a connection it drops) is not an error
                of the receiver's; anything else is printed as usual."""
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def messages(self):
        """[(headers, parsed body)] received so far."""
        with self.lock:
            return [(headers, json.loads(text)) for headers, text in self.received]

    def types(self):
        return [body["type"] for _headers, body in self.messages()]
