"""Administration from the ``idp`` command: ``idp clients`` and ``idp citizens``.

Commands are thin: the rules live in the services (:mod:`idp.oidc.clients.registry`,
:mod:`idp.accounts.services`, :mod:`idp.auth.mfa_reset`) so every other caller applies the same.
"""

from __future__ import annotations

from flask import Flask

from idp.admin.citizens_cli import citizens_cli
from idp.admin.clients_cli import clients_cli


def init_app(app: Flask) -> None:
    app.cli.add_command(clients_cli)
    app.cli.add_command(citizens_cli)


__all__ = ["init_app"]
