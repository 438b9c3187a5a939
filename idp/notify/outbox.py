"""The outbox: queue a message in the transaction that causes it, send it afterwards.

- **Queued with its cause.** :func:`queue` renders the message in the citizen's language and adds
  an :class:`~idp.notify.models.OutboxMessage` to the current transaction; the caller's commit
  writes both, so a code is never stored without its message, nor a message sent for a change
  that rolled back.
- **Sent by a worker.** :func:`run_once` claims due rows (a conditional update of the attempt
  counter, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two nodes never send one row at once),
  sends outside any transaction and records the outcome: accepted (never sent again), retried
  later with exponential backoff, or given up after ``IDP_OUTBOX_MAX_ATTEMPTS``.
- **Never lost, never sent twice once accepted.** A claim sets ``next_attempt_at`` to a lease:
  if the process dies while sending, the row is due again when the lease ends. The one window
  left, a crash after the server accepted and before the row says so, is closed on the
  receiving side: every attempt carries the same ``Message-ID`` / gateway ``id``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app, render_template
from flask_babel import force_locale
from sqlalchemy import func, select

from idp.audit.log import record
from idp.db import db, work_queue
from idp.db.types import utcnow
from idp.notify.channels import Channel, Message, configured_channels
from idp.notify.models import OutboxMessage

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms")


class ChannelNotConfigured(Exception):
    """The deployment has no channel of this kind (IDP_SMTP_URL / IDP_SMS_GATEWAY_URL unset)."""


def _settings():
    return current_app.config["IDP"]


def channels() -> dict[str, Channel]:
    """This app's configured channels, built once per app."""
    app = current_app._get_current_object()
    built = app.extensions.get("idp.notify_channels")
    if built is None:
        built = app.extensions["idp.notify_channels"] = configured_channels(_settings())
    return built


def available(channel: str) -> bool:
    return channel in channels()


def render(kind: str, channel: str, language: str, context: dict) -> tuple[str | None, str]:
    """Subject (email only) and text of ``kind`` in ``language``, from
    ``web/templates/notify/<kind>.<channel>.txt`` (an email template's first line is its
    subject)."""
    with force_locale(language):
        text = render_template(f"notify/{kind}.{channel}.txt", **context).strip()
    if channel == "email":
        subject, _, body = text.partition("\n")
        return subject.strip(), body.strip() + "\n"
    return None, text


def queue(channel: str, recipient: str, kind: str, *, language: str, citizen_id: int | None = None,
          **context) -> OutboxMessage:
    """Add a message to the current transaction (the caller commits). Raises
    :class:`ChannelNotConfigured` when the deployment cannot send on ``channel``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not available(channel):
        raise ChannelNotConfigured(channel)
    subject, body = render(kind, channel, language, context)
    domain = _settings().issuer.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    message = OutboxMessage(
        channel=channel, recipient=recipient, kind=kind, language=language, subject=subject,
        body=body, citizen_id=citizen_id, message_id=f"<{secrets.token_urlsafe(24)}@{domain}>",
        next_attempt_at=utcnow())
    db.session.add(message)
    return message


# -- sending -------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def backoff(attempts: int) -> timedelta:
    """base x 2^(attempts-1) seconds, at most IDP_OUTBOX_RETRY_MAX."""
    settings = _settings()
    return work_queue.backoff(attempts, settings.outbox_retry_base, settings.outbox_retry_max)


def _claim(limit: int) -> list[int]:
    """Take up to ``limit`` due messages (:func:`idp.db.work_queue.claim_due`), leased for
    longer than an attempt can take."""
    return work_queue.claim_due(OutboxMessage, limit, timedelta(seconds=2 * _settings().notify_timeout + 30))


def _deliver(message_id: int, summary: RunSummary) -> None:
    row = db.session.get(OutboxMessage, message_id)
    channel = channels().get(row.channel)
    outgoing = Message(row.message_id, row.recipient, row.subject, row.body)
    db.session.commit()  # no transaction is held while waiting on the network
    if channel is None:
        result_outcome, error = "retry", "channel not configured"
    else:
        result = channel.send(outgoing)
        result_outcome, error = result.outcome, result.error
    row = db.session.get(OutboxMessage, message_id)
    if result_outcome == "accepted":
        _finish(row, "sent", None)
        summary.sent += 1
    elif result_outcome == "refused" or row.attempts >= _settings().outbox_max_attempts:
        _finish(row, "failed", error)
        summary.failed += 1
    else:
        row.last_error = error
        row.next_attempt_at = utcnow() + backoff(row.attempts)
        db.session.commit()
        summary.retrying += 1


def _finish(row: OutboxMessage, status: str, error: str | None) -> None:
    row.status = status
    row.last_error = error
    row.finished_at = utcnow()
    # The text may hold a one-time code: once the channel has it (or never will), idp does not
    # keep it. Kind, channel and outcome stay for the operator until the purge.
    row.body = ""
    record("notify.sent" if status == "sent" else "notify.failed",
           outcome="success" if status == "sent" else "failure", citizen_id=row.citizen_id,
           details={"channel": row.channel, "kind": row.kind, "attempts": row.attempts,
                    "error": error})
    db.session.commit()


def run_once(limit: int = 50) -> RunSummary:
    """Send every due message (up to ``limit``). Safe to run on several nodes at once."""
    summary = RunSummary()
    for message_id in _claim(limit):
        try:
            _deliver(message_id, summary)
        except Exception:
            db.session.rollback()
            log.exception("outbox message %s failed unexpectedly", message_id)
    return summary


def pending_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending"))


# -- the worker thread ---------------------------------------------------------------------------


#: Where this process keeps its sender (:func:`idp.db.work_queue.start_once`).
WORKER = "idp.outbox_worker"


def stop_worker(app: Flask) -> None:
    """Stop this process's sender and wait for its pass to end (:func:`idp.process_threads.stop_all`)."""
    work_queue.stop(app, WORKER)


def start_worker(app: Flask) -> work_queue.PollingWorker | None:
    """Start this process's sender once, polling every IDP_OUTBOX_POLL_INTERVAL seconds."""
    settings = app.config["IDP"]
    if app.testing or not settings.outbox_worker:
        return None
    return work_queue.start_once(app, WORKER, lambda: work_queue.PollingWorker(
        app, "idp-outbox", settings.outbox_poll_interval, lambda: run_once().attempted, due=is_due))


def is_due() -> bool:
    """Whether a pass (:func:`run_once`) would find a message to send now."""
    return work_queue.any_due(OutboxMessage, utcnow())
