"""The provider metadata of :mod:`idp.oidc.discovery`, served from the app's prebuilt copy
(:mod:`idp.public_documents`): the same bytes and headers as the answer before Flask."""

from __future__ import annotations

from idp.oidc.blueprint import bp
from idp.public_documents import flask_response


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    return flask_response()


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    return flask_response()
