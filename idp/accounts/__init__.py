"""Citizens, their national identifiers and the population registry they are checked against."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registration (``/register``), the account pages (``/account``), ``idp registry``."""
    from idp.accounts import app_security, cli, registration, security, views  # noqa: F401 - they add routes
    from idp.auth import ratelimit

    app.register_blueprint(registration.bp)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.registry_cli)
    ratelimit.limit_posts(app, ["registration.register", "account.password"])

    @app.context_processor
    def _identifier_hint():
        from idp.accounts.messages import identifier_hint

        return {"identifier_hint": lambda: identifier_hint(app.config["IDP"].identifier_scheme)}
