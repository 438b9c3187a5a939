"""OpenID Connect Core 1.0 and OAuth 2.0 endpoints: relying parties integrate here only.

Endpoints (all advertised in discovery): ``/authorize`` (+ ``/authorize/continue/<id>``),
``/token``, ``/userinfo``, ``/introspect``, ``/revoke``, ``/logout``,
``/.well-known/openid-configuration``, ``/.well-known/oauth-authorization-server`` (and the
JWKS, served by :mod:`idp.keys`). Back-channel and front-channel logout, and token exchange
(RFC 8693) and CIBA (``/bc-authorize``, :mod:`idp.oidc.ciba`), live in the modules named after
their specs.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.oidc import (  # noqa: F401
        authorize,
        ciba_views,
        discovery,
        dynamic_registration,
        rp_initiated_logout,
        token_endpoint,
        userinfo,
    )
    from idp.oidc.blueprint import bp
    from idp.oidc.server import init_server

    init_server(app)
    app.register_blueprint(bp)

    from idp.oidc import backchannel_logout, ciba, frontchannel_logout, service_name, session_tokens
    from idp.oidc.ciba_cli import ciba_cli
    from idp.oidc.logout_queue_cli import logout_queue_cli
    from idp.oidc.token_exchange_cli import token_exchange_cli

    backchannel_logout.init_app(app)
    frontchannel_logout.init_app(app)
    session_tokens.init_app(app)
    service_name.init_app(app)
    ciba.register_purge(app)
    app.cli.add_command(ciba_cli)
    app.cli.add_command(logout_queue_cli)
    app.cli.add_command(token_exchange_cli)
