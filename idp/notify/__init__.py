"""Notifications to citizens by email and SMS, through a durable outbox.

- :mod:`idp.notify.channels`: SMTP (``IDP_SMTP_URL``) and the HTTP SMS gateway contract
  (``IDP_SMS_GATEWAY_URL``).
- :mod:`idp.notify.outbox`: :func:`~idp.notify.outbox.queue` a message with the change that
  causes it; a worker in every server process sends it, retrying with backoff.
- ``idp outbox run|list`` for operators.

Without a configured channel, :func:`~idp.notify.outbox.available` is false and the features
that need it (contact verification, account recovery, security notices) say so and stay off.
"""

from __future__ import annotations

from flask import Flask

from idp import process_threads
from idp.maintenance import PurgeRule, register_rule
from idp.notify.cli import outbox_cli
from idp.notify.models import OutboxMessage
from idp.notify.outbox import ChannelNotConfigured, available, queue, run_once, start_worker, stop_worker

__all__ = ["ChannelNotConfigured", "available", "init_app", "queue", "run_once"]


def init_app(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
    if app.config["IDP"].outbox_worker and not app.testing:
        process_threads.register(app, lambda: start_worker(app), lambda: stop_worker(app))
    register_rule(app, PurgeRule(
        "outbox_messages", OutboxMessage.__table__,
        lambda ctx: OutboxMessage.finished_at < ctx.cutoff,
        description="emails and SMS sent or given up before the retention window"))
