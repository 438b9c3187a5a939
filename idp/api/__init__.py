"""HTTP APIs for agencies' back-ends, under ``/api/``: JSON in and out, each call authorised by
an access token from :mod:`idp.oidc` (no browser session, so no CSRF token).

- :mod:`.signatures` — ``POST /api/signatures/verify``, signed-document verification over
  :mod:`idp.signatures`, described by ``openapi.json`` beside it.
"""

from __future__ import annotations

from flask import Flask

from idp.api import signatures
from idp.web import csrf


def init_app(app: Flask) -> None:
    csrf.exempt(signatures.bp)
    app.register_blueprint(signatures.bp)
