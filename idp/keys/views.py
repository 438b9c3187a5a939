"""The JWKS endpoint (RFC 7517 §5, OIDC Discovery §3 ``jwks_uri``), served from memory.

Relying parties poll it; the ETag lets them revalidate for free and ``max-age`` stays short
enough that a rotated-in key is seen well within its first token's lifetime.
"""

from __future__ import annotations

from flask import Blueprint

from idp.public_documents import flask_response

bp = Blueprint("keys", __name__)
MAX_AGE = 60


@bp.get("/.well-known/jwks.json")
def jwks():
    """The JWK Set from the app's prebuilt copy (:mod:`idp.public_documents`)."""
    return flask_response()
