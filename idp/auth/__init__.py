"""Sign-in methods (password, second factors, certificates) and the SSO session."""

from __future__ import annotations

from flask import Flask

from idp.auth import app_signin, certificate_views, ratelimit, second_factor, views

#: The modules whose routes are on the ``auth`` blueprint (``views.bp``; Flask's decorators
#: add them when the module is imported).
AUTH_ROUTES = (views, second_factor)


def init_app(app: Flask) -> None:
    """The ``auth`` blueprint (``/login``, ``/signout``, second factors, passkeys), certificate
    sign-in (``/login/certificate``), sign-in with the identity app (``/login/app``,
    ``/app/...``) and the per-IP limits on them."""
    app.register_blueprint(views.bp)
    app.register_blueprint(certificate_views.bp)
    app.register_blueprint(app_signin.bp)
    ratelimit.init_app(app)
    ratelimit.limit_posts(app, ["auth.login", "auth.second_factor_otp", "auth.second_factor_recovery",
                                "auth.second_factor_passkey", "auth.passkey_sign_in",
                                "certificate_signin.login", "certificate_signin.direct",
                                "certificate_signin.continue_direct", *app_signin.LIMITED_POSTS])
    app_signin.limit_requests(app)
    app_signin.register_purge(app)
