"""Sign-in methods (password, second factors, certificates) and the SSO session."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The ``auth`` blueprint (``/login``, ``/signout``), certificate sign-in
    (``/login/certificate``) and the per-IP limits on both."""
    from idp.auth import certificate_views, ratelimit, views

    app.register_blueprint(views.bp)
    app.register_blueprint(certificate_views.bp)
    ratelimit.init_app(app)
    ratelimit.limit_posts(app, ["auth.login", "certificate_signin.login"])
