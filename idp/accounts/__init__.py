"""The citizen's own pages: the start page, registration against the population registry, the
account pages, account recovery, security notices; ``idp registry`` and the sandbox's demo data."""

from __future__ import annotations

from flask import Flask

from idp.accounts import (
    app_security,
    cli,
    demo_certificate,
    devices,
    home,
    notices,
    recovery_views,
    registration,
    security,
    views,
)
from idp.auth import ratelimit
from idp.citizens.messages import identifier_hint

#: The modules whose routes are on the ``account`` blueprint (``views.bp``; Flask's decorators
#: add them when the module is imported).
ACCOUNT_ROUTES = (views, security, app_security)


def init_app(app: Flask) -> None:
    """The start page (``/``), registration (``/register``), the account pages (``/account``),
    recovery (``/recover``), security notices, ``idp registry``, the sandbox's demo certificate
    (``./scripts/run``)."""
    app.register_blueprint(home.bp)
    # The identity app's sign-in (idp.auth, a layer below) names the browser like the account pages.
    app.extensions["idp.describe_user_agent"] = devices.describe
    app.register_blueprint(registration.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(recovery_views.bp)
    app.cli.add_command(cli.registry_cli)
    notices.init_app(app)
    ratelimit.limit_posts(app, ["registration.register", "account.password", "account.contacts",
                              "account.verify_contact", "account.resend_code"])
    ratelimit.limit_posts(app, ["recovery.start", "recovery.enter_code"], setting="recovery_rate_limit")
    app.extensions.setdefault("idp.demo_loaders", []).append(demo_certificate.load)

    @app.context_processor
    def _identifier_hint():
        return {"identifier_hint": lambda: identifier_hint(app.config["IDP"].identifier_scheme)}
