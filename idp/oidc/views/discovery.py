"""The provider metadata documents of :mod:`idp.oidc.discovery`, served with their ETag."""

from __future__ import annotations

from idp.oidc.blueprint import bp
from idp.oidc.discovery import MAX_AGE, document
from idp.web import cached_json


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    body, etag = document()
    return cached_json(body, etag, "application/json", MAX_AGE)


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    body, etag = document()
    return cached_json(body, etag, "application/json", MAX_AGE)
