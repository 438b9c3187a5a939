"""Running the real ``idp`` command in tests: Click's runner on the ``idp`` group, with the
test's app (the same database the HTTP side of the test uses)."""

from __future__ import annotations

import getpass
import json

from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.cli import cli
from idp.db import db

ADMIN = f"admin:{getpass.getuser()}"


def idp(app, *args: str, input: str | None = None):  # Click's name
    """``idp ARGS...`` through the console script's group; returns Click's Result
    (``stdout`` and ``stderr`` kept apart, as a shell pipeline sees them)."""
    return app.test_cli_runner().invoke(cli, list(args), input=input)


def idp_json(app, *args: str, input: str | None = None):
    """``idp ARGS... --json``: must exit 0 and print one JSON document."""
    result = idp(app, *args, "--json", input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def admin_events(app, prefix: str = "") -> list[AuditEvent]:
    with app.app_context():
        return [e for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if e.action.startswith(prefix)]
