"""A local mailbox for trying idp on one machine: an SMTP server and an SMS gateway that
deliver nothing and write every message they receive into a folder.

    .venv/bin/python scripts/outbox_sinks.py instance/outbox     # SMTP :8025, SMS :8026

Emails land in ``<folder>/mail/*.eml`` and SMS in ``<folder>/sms/*.json``; each file's name
starts with the time it arrived, so ``ls`` shows the newest last. ``./scripts/run`` starts this
and points ``IDP_SMTP_URL`` and ``IDP_SMS_GATEWAY_URL`` at it. The tests start the same classes.

The SMS side speaks idp's gateway contract (``idp.notify.channels``): ``POST`` a JSON body
``{"id", "to", "text"}``; a repeated ``id`` is answered 200 and not written again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

_arrivals = itertools.count(1)


def _stamp() -> str:
    """Arrival time and order: file names sort in the order messages arrived."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{next(_arrivals):06d}"


class MailFolder:
    """aiosmtpd handler: each accepted message becomes one ``.eml`` file."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        (self.folder / f"{_stamp()}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def messages(self) -> list:
        """Every message received so far, oldest first, parsed."""
        return [message_from_bytes(path.read_bytes(), policy=default_policy)
                for path in sorted(self.folder.glob("*.eml"))]


class SmsFolder(ThreadingHTTPServer):
    """An HTTP server taking idp's SMS gateway contract; each message becomes one ``.json``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], folder: Path, token: str | None = None):
        self.folder = folder
        self.token = token
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(address, _SmsHandler)

    def messages(self) -> list[dict]:
        return [json.loads(path.read_text()) for path in sorted(self.folder.glob("*.json"))]


class _SmsHandler(BaseHTTPRequestHandler):
    server: SmsFolder

    def do_POST(self) -> None:
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._answer(401, {"error": "unauthorized"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            message = {"id": str(body["id"]), "to": str(body["to"]), "text": str(body["text"])}
        except (ValueError, KeyError, TypeError):
            self._answer(400, {"error": "expected JSON with id, to and text"})
            return
        with self.server.lock:
            if message["id"] not in self.server.seen:
                self.server.seen.add(message["id"])
                (self.server.folder / f"{_stamp()}.json").write_text(json.dumps(message, ensure_ascii=False))
        self._answer(200, {"id": message["id"], "status": "accepted"})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet: the files are the log
        pass


def start(folder: Path, host: str = "127.0.0.1", smtp_port: int = 8025, sms_port: int = 8026,
          sms_token: str | None = None) -> tuple[Controller, SmsFolder]:
    """Start both sinks in background threads; stop them with ``.stop()`` / ``.shutdown()``."""
    controller = Controller(MailFolder(folder / "mail"), hostname=host, port=smtp_port)
    controller.start()
    sms = SmsFolder((host, sms_port), folder / "sms", sms_token)
    threading.Thread(target=sms.serve_forever, name="sms-sink", daemon=True).start()
    return controller, sms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--sms-port", type=int, default=8026)
    args = parser.parse_args()
    controller, sms = start(args.folder.resolve(), smtp_port=args.smtp_port, sms_port=args.sms_port)
    print(f"mailbox: smtp://127.0.0.1:{args.smtp_port} -> {args.folder / 'mail'}/*.eml", flush=True)
    print(f"SMS gateway: http://127.0.0.1:{args.sms_port}/sms -> {args.folder / 'sms'}/*.json", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sms.shutdown()
        controller.stop()


if __name__ == "__main__":
    main()
