"""OpenID Connect Core 1.0 and OAuth 2.0 endpoints: relying parties integrate here only.

Endpoints (all advertised in discovery): ``/authorize`` (+ ``/authorize/continue/<id>``),
``/token``, ``/userinfo``, ``/introspect``, ``/revoke``, ``/logout``,
``/.well-known/openid-configuration``, ``/.well-known/oauth-authorization-server`` (and the
JWKS, served by :mod:`idp.keys`). Back-channel and front-channel logout, and token exchange
(RFC 8693), live in the modules named after their specs.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.maintenance import register_rule
    from idp.oidc import discovery  # noqa: F401
    from idp.oidc.blueprint import bp
    from idp.oidc.endpoints import registration  # noqa: F401
    from idp.oidc.logout import rp_initiated  # noqa: F401
    from idp.oidc.retention import CORE_RULES
    from idp.oidc.server import init_server
    from idp.oidc.views import authorize, token, userinfo  # noqa: F401

    for rule in CORE_RULES:
        register_rule(app, rule)
    init_server(app)
    app.register_blueprint(bp)

    from idp.oidc.cli.logout_queue import logout_queue_cli
    from idp.oidc.cli.token_exchange import token_exchange_cli
    from idp.oidc.logout import backchannel as backchannel_logout
    from idp.oidc.logout import frontchannel as frontchannel_logout

    backchannel_logout.init_app(app)
    frontchannel_logout.init_app(app)
    app.cli.add_command(logout_queue_cli)
    app.cli.add_command(token_exchange_cli)
