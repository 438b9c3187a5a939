"""Housekeeping an operator runs on a schedule: ``idp maintenance purge`` deletes rows whose
useful life is over (expired codes and tokens, ended sessions...), in bounded batches.

What may be deleted is a registry of :class:`~idp.maintenance.purge.PurgeRule`, one per kind
of row. Each package that owns a table of short-lived rows appends its rule in its ``init_app``
(:mod:`idp.oidc.retention` holds the protocol's and the SSO sessions')::

    from idp.maintenance import PurgeRule, register_rule
    register_rule(app, PurgeRule("login_challenges", Challenge.__table__,
                                 lambda ctx: Challenge.expires_at < ctx.now))
"""

from __future__ import annotations

from flask import Flask

from idp.maintenance import periodic
from idp.maintenance.cli import maintenance
from idp.maintenance.purge import Dependent, PurgeContext, PurgeRule, register_rule, rules


def init_app(app: Flask) -> None:
    app.cli.add_command(maintenance)
    periodic.init_app(app)


__all__ = ["Dependent", "PurgeContext", "PurgeRule", "register_rule", "rules"]
