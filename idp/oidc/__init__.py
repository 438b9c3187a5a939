"""OpenID Connect Core 1.0 and OAuth 2.0 endpoints: relying parties integrate here only.

Endpoints (all advertised in discovery): ``/authorize`` (+ ``/authorize/continue/<id>``),
``/token``, ``/userinfo``, ``/introspect``, ``/revoke``, ``/logout``, ``/connect/register``,
``/.well-known/openid-configuration``, ``/.well-known/oauth-authorization-server`` (and the
JWKS, served by :mod:`idp.keys`). The package is split by role (docs/architecture.md):
``views/`` (Flask) call ``server`` (Authlib), which runs ``grants/`` and ``endpoints/``;
``tokens/``, ``clients/``, ``authorization/`` and ``logout/`` hold what they share.
"""

from __future__ import annotations

from flask import Flask

from idp.maintenance import register_rule
from idp.oidc import cli, views
from idp.oidc.authorization import service_name
from idp.oidc.clients import record_cache
from idp.oidc.grants import ciba
from idp.oidc.logout import backchannel, frontchannel
from idp.oidc.retention import CORE_RULES
from idp.oidc.server import init_server
from idp.oidc.tokens import ending


def init_app(app: Flask) -> None:
    """The Authlib server, the ``oidc`` blueprint, the session listeners (logout, ending the
    session's tokens), the logout sender thread, the purge rules of the protocol's tables,
    ``idp logout-queue``, ``idp token-exchange`` and ``idp ciba``."""
    for rule in CORE_RULES:
        register_rule(app, rule)
    init_server(app)
    record_cache.init_app(app)
    app.register_blueprint(views.bp)
    backchannel.init_app(app)
    frontchannel.init_app(app)
    ending.init_app(app)
    service_name.init_app(app)
    ciba.register_purge(app)
    for command in cli.COMMANDS:
        app.cli.add_command(command)
