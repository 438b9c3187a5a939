"""Signing keys: generation, rotation, retirement and the published JWKS."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from idp.db import db
from idp.health import add_check
from idp.keys import service
from idp.keys.cli import keys_cli
from idp.keys.views import bp


def _signing_key_loaded() -> str | None:
    """Readiness: the keys that sign ID and access tokens are loaded (decrypted with this
    node's IDP_SECRET_KEY). A node whose secret differs from the fleet's cannot sign: it must
    not take traffic."""
    settings = current_app.config["IDP"]
    try:
        for alg in {settings.signing_alg, settings.access_token_alg}:
            service.signing_key(alg)
    except SQLAlchemyError:
        db.session.rollback()
        return "not loaded (database)"
    except Exception:  # a wrong secret (InvalidTag), a corrupt row: not ready
        return "not loaded"
    return None


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(keys_cli)
    add_check(app, "signing_key", _signing_key_loaded)
