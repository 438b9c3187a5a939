"""Sign-in methods (password, second factors, certificates) and the SSO session."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The ``auth`` blueprint (``/login``, ``/signout``) and the per-IP limits on it."""
    from idp.auth import ratelimit, second_factor, views  # noqa: F401 - second_factor adds routes to bp

    app.register_blueprint(views.bp)
    ratelimit.init_app(app)
    ratelimit.limit_posts(app, ["auth.login", "auth.second_factor_otp", "auth.second_factor_recovery",
                                "auth.second_factor_passkey", "auth.passkey_sign_in"])
