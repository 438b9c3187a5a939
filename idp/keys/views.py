"""The JWKS endpoint (RFC 7517 §5, OIDC Discovery §3 ``jwks_uri``), served from memory.

Relying parties poll it; the ETag lets them revalidate for free and ``max-age`` stays short
enough that a rotated-in key is seen well within its first token's lifetime.
"""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from idp.keys import service

bp = Blueprint("keys", __name__)
MAX_AGE = 60


def cached_json(body: dict, etag: str, mimetype: str, max_age: int) -> Response:
    """A public, cacheable JSON document with a strong ETag; 304 when the client has it."""
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(json.dumps(body), mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    body, etag = service.jwks()
    return cached_json(body, etag, "application/jwk-set+json", MAX_AGE)
