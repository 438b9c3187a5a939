"""Citizens, their national identifiers and the population registry they are checked against."""

from __future__ import annotations

from flask import Flask

from idp.accounts import cli, demo_certificate, registration, security, views
from idp.auth import ratelimit
from idp.citizens.messages import identifier_hint

#: The modules whose routes are on the ``account`` blueprint (``views.bp``; Flask's decorators
#: add them when the module is imported).
ACCOUNT_ROUTES = (views, security)


def init_app(app: Flask) -> None:
    """Registration (``/register``), the account pages (``/account``), ``idp registry``, the
    sandbox's demo certificate (``./scripts/run``)."""
    app.register_blueprint(registration.bp)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.registry_cli)
    ratelimit.limit_posts(app, ["registration.register", "account.password"])
    app.extensions.setdefault("idp.demo_loaders", []).append(demo_certificate.load)

    @app.context_processor
    def _identifier_hint():
        return {"identifier_hint": lambda: identifier_hint(app.config["IDP"].identifier_scheme)}
