"""Signing keys: generation, rotation, retirement and the published JWKS."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from idp.keys.cli import keys_cli
    from idp.keys.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(keys_cli)
