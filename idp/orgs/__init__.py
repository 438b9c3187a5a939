"""Acting for others: organisations (the registry, their accounts, members and roles) and
parents and guardians acting for children. See docs/organisations.md.

The provider reads these tables (:mod:`idp.orgs.context`) to offer a choice at sign-in and to
check, at every use of a token, that the context it carries still holds.
"""

from __future__ import annotations

from flask import Flask

from idp.orgs import cli, demo, views


def init_app(app: Flask) -> None:
    """``idp orgs``, ``idp relations``, the pages under ``/account/acting-for``, demo data."""
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.orgs_cli)
    app.cli.add_command(cli.relations_cli)
    app.extensions.setdefault("idp.demo_loaders", []).append(demo.load)
