"""A relying party's back-channel logout endpoint as a real HTTP server on a loopback port:
it records every POST and answers with the status a test chooses, and can be started after
its address was registered (a receiver that is down, then comes back)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.helpers import free_port


class Receiver:
    def __init__(self, port: int | None = None, status: int = 200):
        self.port = port or free_port()
        self.status = status
        self.received: list[dict[str, str]] = []
        self.content_types: list[str] = []
        #: The raw bodies and Authorization headers (JSON notifications: CIBA ping mode).
        self.bodies: list[str] = []
        self.authorizations: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel-logout"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.bodies.append(body)
                receiver.authorizations.append(self.headers.get("Authorization", ""))
                receiver.received.append({k: v[0] for k, v in parse_qs(body).items()})
                self.send_response(receiver.status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
