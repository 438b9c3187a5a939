"""``idp outbox``: the email and SMS outbox for operators.

Every server process already sends the outbox (IDP_OUTBOX_WORKER); this command is for a
dedicated sender process, or to push what is due right now after an outage (``--once``).
"""

from __future__ import annotations

import json
import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from idp.db import db
from idp.notify import outbox
from idp.notify.models import OutboxMessage

outbox_cli = AppGroup("outbox", help="Emails and SMS waiting for, or done with, delivery.")


@outbox_cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print each pass's counts as JSON.")
def run(once: bool, as_json: bool) -> None:
    """Send due messages, retrying failed ones with backoff (Ctrl-C stops).

    Example: idp outbox run --once
    """
    interval = current_app.config["IDP"].outbox_poll_interval
    while True:
        totals = outbox.RunSummary()
        while True:
            summary = outbox.run_once()
            totals.sent += summary.sent
            totals.retrying += summary.retrying
            totals.failed += summary.failed
            if not summary.attempted or once:
                break
        if totals.attempted or once:
            counts = {"sent": totals.sent, "retrying": totals.retrying, "failed": totals.failed,
                      "pending": outbox.pending_count()}
            click.echo(json.dumps(counts) if as_json else
                       " ".join(f"{key}={value}" for key, value in counts.items()))
        db.session.remove()
        if once:
            return
        time.sleep(interval)


@outbox_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
def list_messages(status: str | None, limit: int, as_json: bool) -> None:
    """Newest messages first: channel, kind, status, attempts, last error (never the text)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    rows = [{"id": m.id, "channel": m.channel, "kind": m.kind, "status": m.status,
             "attempts": m.attempts, "created_at": m.created_at.isoformat(timespec="seconds"),
             "next_attempt_at": m.next_attempt_at.isoformat(timespec="seconds"),
             "last_error": m.last_error} for m in db.session.scalars(query)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['id']:>6} {row['channel']:<5} {row['kind']:<20} {row['status']:<8} "
                   f"attempts={row['attempts']} next={row['next_attempt_at']} "
                   f"{row['last_error'] or ''}".rstrip())
