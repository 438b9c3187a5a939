"""What every admin command shares: ``--json`` output, one-line errors with a non-zero exit,
and the admin's OS user as the actor of every audit event.

Onboarding scripts of agencies parse ``--json`` output, so it is stable: one JSON document on
stdout, ids always present; human output is for people and may change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import click

from idp.audit.log import admin_actor, record
from idp.db import db

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON on stdout.")


class AdminError(click.ClickException):
    """A bad request from the admin: one line on stderr, exit code 1, nothing changed."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"idp: {self.format_message()}", err=True)


def fail(message: str) -> AdminError:
    """Roll back whatever the command started and build the error to raise."""
    db.session.rollback()
    return AdminError(message)


def emit(data: Any, as_json: bool, human: Callable[[Any], Iterable[str]] | None = None) -> None:
    """Print ``data`` as JSON, or as the lines ``human(data)`` gives."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str))
        return
    for line in (human(data) if human else _plain(data)):
        click.echo(line)


def _plain(data: Any) -> Iterable[str]:
    if isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            if isinstance(value, list | tuple):
                value = " ".join(str(v) for v in value)
            yield f"{key:{width}}  {'' if value is None else value}"
    else:
        yield str(data)


def audit(action: str, *, citizen_id: int | None = None, client_id: str | None = None,
          details: dict | None = None) -> None:
    """Record an admin change, attributed to ``admin:<OS user>``; committed with the change."""
    record(action, actor=admin_actor(), citizen_id=citizen_id, client_id=client_id,
           details=details or {})



__all__ = ["AdminError", "audit", "emit", "fail", "json_option"]
