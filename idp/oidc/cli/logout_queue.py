"""``idp logout-queue``: the back-channel logout queue for operators.

Every server process already sends the queue (IDP_BACKCHANNEL_WORKER); this command is for a
dedicated sender process, for a cron job next to ``IDP_BACKCHANNEL_WORKER=false``, or to push
what is due right now after an outage (``--once``).
"""

from __future__ import annotations

import json
import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from idp.db import db
from idp.oidc.logout import backchannel as backchannel_logout
from idp.oidc.models import Client, LogoutDelivery

logout_queue_cli = AppGroup("logout-queue",
                            help="Back-channel logout deliveries (OIDC Back-Channel Logout 1.0).")


@logout_queue_cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print each pass's counts as JSON.")
def run(once: bool, as_json: bool) -> None:
    """Send due logout tokens, retrying failed ones with backoff (Ctrl-C stops).

    Example: idp logout-queue run --once
    """
    interval = current_app.config["IDP"].backchannel_poll_interval
    while True:
        summary = backchannel_logout.run_once()
        while summary.attempted and not once:
            more = backchannel_logout.run_once()
            for name in ("delivered", "retrying", "failed", "sessions_expired"):
                setattr(summary, name, getattr(summary, name) + getattr(more, name))
            if not more.attempted:
                break
        if summary.attempted or summary.sessions_expired or once:
            counts = {"delivered": summary.delivered, "retrying": summary.retrying,
                      "failed": summary.failed, "sessions_expired": summary.sessions_expired,
                      "pending": backchannel_logout.pending_count()}
            click.echo(json.dumps(counts) if as_json else
                       " ".join(f"{key}={value}" for key, value in counts.items()))
        db.session.remove()
        if once:
            return
        time.sleep(interval)


@logout_queue_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
def list_deliveries(status: str | None, limit: int, as_json: bool) -> None:
    """Newest deliveries first: client, status, attempts, next attempt, last error."""
    query = (select(LogoutDelivery, Client.client_id).join(Client, Client.id == LogoutDelivery.client_pk)
             .order_by(LogoutDelivery.id.desc()).limit(limit))
    if status:
        query = query.where(LogoutDelivery.status == status)
    rows = [{"id": d.id, "client_id": client_id, "status": d.status, "attempts": d.attempts,
             "next_attempt_at": d.next_attempt_at.isoformat(timespec="seconds"),
             "last_error": d.last_error, "jti": d.jti}
            for d, client_id in db.session.execute(query).all()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    totals = dict(db.session.execute(
        select(LogoutDelivery.status, func.count()).group_by(LogoutDelivery.status)).all())
    for row in rows:
        click.echo(f"{row['id']:>6} {row['client_id']:24} {row['status']:9} attempts={row['attempts']} "
                   f"next={row['next_attempt_at']} {row['last_error'] or ''}".rstrip())
    click.echo(" ".join(f"{k}={totals.get(k, 0)}" for k in ("pending", "delivered", "failed")))
