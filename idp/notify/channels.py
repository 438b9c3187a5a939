"""Delivery channels: email over SMTP and SMS through an HTTP gateway.

Each channel answers one question for the outbox worker: did the other side *accept* the
message (then it is never sent again), refuse it for good (a 5xx SMTP reply, a 4xx from the
gateway: sending it again would be refused again), or may a later attempt succeed (no answer,
a timeout, a 4xx SMTP reply, a 5xx or 429 from the gateway)?

**Email** (``IDP_SMTP_URL``): ``smtp://user:password@host:587`` speaks STARTTLS (RFC 3207) and
refuses to send in the clear to anything but a loopback host (the local mailbox of
``./scripts/run``); ``smtps://host:465`` is implicit TLS (RFC 8314 §3.3). Certificates are checked
against the system's trust store. Every attempt of one message carries the same ``Message-ID``.

**SMS** (``IDP_SMS_GATEWAY_URL``, ``IDP_SMS_GATEWAY_TOKEN``): every country's provider differs,
so idp speaks one small JSON contract and an operator puts an adapter in front of the provider::

    POST <IDP_SMS_GATEWAY_URL>
    Authorization: Bearer <IDP_SMS_GATEWAY_TOKEN>
    Idempotency-Key: <id>
    Content-Type: application/json

    {"id": "<stable id of this message>", "to": "+84912345678", "text": "..."}

    2xx               accepted (the gateway owns delivery from here; a repeated id must be
                      answered 2xx without sending again)
    408, 429, 5xx     try again later (with backoff)
    other 4xx         refused for good (bad number, unknown sender...)
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

import httpx

Outcome = Literal["accepted", "retry", "refused"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    #: A short reason for the operator (never the message or the recipient).
    error: str | None = None


@dataclass(frozen=True)
class Message:
    message_id: str
    recipient: str
    subject: str | None
    body: str


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> Result: ...


@dataclass(frozen=True)
class SmtpChannel:
    """Email through an SMTP submission server."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None
    mail_from: str
    timeout: float
    name: str = "email"

    @classmethod
    def from_url(cls, url: str, mail_from: str, timeout: float) -> SmtpChannel:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
        implicit = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=parts.port or (465 if implicit else 587),
                   implicit_tls=implicit,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   mail_from=mail_from, timeout=timeout)

    def _email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.mail_from
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message.message_id
        # RFC 3834: an automatic message; auto-responders must not answer it.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body)
        return email

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls(context=context)
            server.ehlo()
        elif self.host not in LOOPBACK_HOSTS:
            server.close()
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
        return server

    def send(self, message: Message) -> Result:
        try:
            with self._connect() as server:
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(self._email(message))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)
            return Result("refused" if permanent else "retry", f"recipient refused ({codes[0]})")
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError)
            return Result("refused" if permanent else "retry", f"SMTP {exc.smtp_code}")
        except smtplib.SMTPNotSupportedError as exc:
            return Result("retry", str(exc)[:200])
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS failure
            return Result("retry", type(exc).__name__)
        return Result("accepted")


#: Gateway answers that mean "later" (RFC 9110 §15.5.9, RFC 6585 §4).
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class SmsGatewayChannel:
    """SMS through the HTTP gateway contract in this module's docstring."""

    url: str
    token: str | None
    timeout: float
    name: str = "sms"

    def send(self, message: Message) -> Result:
        headers = {"Idempotency-Key": message.message_id, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.post(self.url, json={"id": message.message_id, "to": message.recipient,
                                                  "text": message.body},
                                  headers=headers, timeout=self.timeout, follow_redirects=False)
        except httpx.TimeoutException:
            return Result("retry", "timeout")
        except httpx.HTTPError as exc:
            return Result("retry", type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return Result("accepted")
        if 400 <= status < 500 and status not in RETRYABLE_STATUSES:
            return Result("refused", f"HTTP {status}")
        return Result("retry", f"HTTP {status}")


def configured_channels(settings) -> dict[str, Channel]:
    """The channels this deployment has: ``{"email": ..., "sms": ...}``, either may be absent."""
    channels: dict[str, Channel] = {}
    if settings.smtp_url:
        channels["email"] = SmtpChannel.from_url(settings.smtp_url, settings.mail_from,
                                                 settings.notify_timeout)
    if settings.sms_gateway_url:
        channels["sms"] = SmsGatewayChannel(settings.sms_gateway_url, settings.sms_gateway_token,
                                            settings.notify_timeout)
    return channels
