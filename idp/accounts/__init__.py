"""Citizens, their national identifiers and the population registry they are checked against."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registration (``/register``), the account pages (``/account``), ``idp registry``."""
    from idp.accounts import cli, notices, recovery_views, registration, security, views  # noqa: F401 - security adds routes
    from idp.auth import ratelimit

    app.register_blueprint(registration.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(recovery_views.bp)
    app.cli.add_command(cli.registry_cli)
    notices.init_app(app)
    ratelimit.limit_posts(app, ["registration.register", "account.password", "account.contacts",
                              "account.verify_contact", "account.resend_code"])
    ratelimit.limit_posts(app, ["recovery.start", "recovery.enter_code"], setting="recovery_rate_limit")

    @app.context_processor
    def _identifier_hint():
        from idp.accounts.messages import identifier_hint

        return {"identifier_hint": lambda: identifier_hint(app.config["IDP"].identifier_scheme)}
