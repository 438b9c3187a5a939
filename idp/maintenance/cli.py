"""``idp maintenance``: housekeeping commands to run on a schedule (cron, a systemd timer, a
Kubernetes CronJob) on any one node."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from idp.audit.log import admin_actor, record
from idp.db import db
from idp.maintenance.purge import purge as run_purge
from idp.maintenance.purge import rules


@click.group("maintenance")
def maintenance() -> None:
    """Housekeeping: purge rows whose useful life is over.

    \b
    Example:
        idp maintenance purge --json
    """


@maintenance.command("purge")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows deleted per transaction; each batch commits before the next starts.")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@with_appcontext
def purge(batch_size: int, dry_run: bool, as_json: bool) -> None:
    """Delete expired codes, tokens, sessions and other rows past their life, in batches.

    Rows that still serve a purpose after they end (redeemed codes, revoked refresh-token
    families, ended sessions) are kept for IDP_PURGE_RETENTION seconds. The audit log is
    never purged. Safe to run on several nodes at once, and while the server serves.
    Exit code 1 if a rule failed (the others still ran).

    \b
    Example:
        idp maintenance purge --batch-size 5000
        */10 * * * *  idp maintenance purge --json >> /var/log/idp-purge.jsonl
    """
    counts: dict[str, int] = {}
    failed: dict[str, str] = {}
    for rule in rules():
        try:
            counts.update(run_purge([rule], batch_size=batch_size, dry_run=dry_run))
        except SQLAlchemyError as exc:
            db.session.rollback()
            failed[rule.name] = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    total = sum(counts.values())
    if total and not dry_run:
        record("maintenance.purge", actor=admin_actor(),
               details={"purged": {k: v for k, v in counts.items() if v}, "total": total},
               commit=True)
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "batch_size": batch_size, "purged": counts,
                               "total": total, "failed": failed}))
    else:
        verb = "would purge" if dry_run else "purged"
        width = max((len(name) for name in counts), default=5)
        for name, count in counts.items():
            click.echo(f"{name:<{width}}  {count:>9}")
        click.echo(f"{'total':<{width}}  {total:>9}  ({verb})")
    for name, reason in failed.items():
        click.echo(f"purge rule {name} failed: {reason}", err=True)
    if failed:
        sys.exit(1)
