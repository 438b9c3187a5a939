"""Fixtures for email and SMS: a real SMTP server (aiosmtpd) and a real HTTP SMS gateway on
loopback, writing what they receive into a folder (``scripts/outbox_sinks.py``, the same local
mailbox ``./scripts/run`` starts), and the IDP_* settings that point idp at them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from idp.db import db
from idp.notify import outbox
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("outbox_sinks", ROOT / "scripts" / "outbox_sinks.py")
sinks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sinks)

SMS_TOKEN = "sms-gateway-token-0123456789"


class Mailbox:
    def __init__(self, folder: Path):
        self.smtp_port = free_port()
        # The SMS sink binds a port the system picks as it binds (0): a number picked earlier
        # can meanwhile be taken, e.g. as the local end of the SMTP sink's own readiness check.
        self.controller, self.sms = sinks.start(folder, smtp_port=self.smtp_port, sms_port=0,
                                                sms_token=SMS_TOKEN)
        self.sms_port = self.sms.server_address[1]
        self.mail = self.controller.handler

    def environ(self) -> dict[str, str]:
        return {"IDP_SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                "IDP_MAIL_FROM": "Định danh <no-reply@id.example.gov>",
                "IDP_SMS_GATEWAY_URL": f"http://127.0.0.1:{self.sms_port}/sms",
                "IDP_SMS_GATEWAY_TOKEN": SMS_TOKEN}

    def emails_to(self, address: str) -> list:
        return [m for m in self.mail.messages() if m["To"] == address]

    def texts_to(self, number: str) -> list[dict]:
        return [m for m in self.sms.messages() if m["to"] == number]

    def stop(self) -> None:
        self.sms.shutdown()
        self.sms.server_close()
        self.controller.stop()


def deliver(app) -> None:
    """Run the outbox worker's pass now (apps built in tests run no worker thread)."""
    with app.app_context():
        outbox.run_once()
        db.session.remove()


def last_code(texts: list[str]) -> str:
    """The 6-digit code in the newest message."""
    return re.findall(r"\b(\d{6})\b", texts[-1])[-1]


def email_text(message) -> str:
    return f"{message['Subject']}\n{message.get_content()}"


@pytest.fixture
def mailbox(tmp_path):
    box = Mailbox(tmp_path / "outbox")
    yield box
    box.stop()


@pytest.fixture
def notify_environ(environ, mailbox):
    return {**environ, **mailbox.environ()}
