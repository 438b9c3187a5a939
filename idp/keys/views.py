"""The JWKS endpoint (RFC 7517 §5, OIDC Discovery §3 ``jwks_uri``), served from memory.

Relying parties poll it; the ETag lets them revalidate for free and ``max-age`` stays short
enough that a rotated-in key is seen well within its first token's lifetime.
"""

from __future__ import annotations

from flask import Blueprint

from idp.keys import service
from idp.web import cached_json

bp = Blueprint("keys", __name__)
MAX_AGE = 60


@bp.get("/.well-known/jwks.json")
def jwks():
    body, etag = service.jwks()
    return cached_json(body, etag, "application/jwk-set+json", MAX_AGE)
