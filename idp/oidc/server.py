"""The Authlib authorization server and all its wiring, in one place.

Grants (code + PKCE + ID token, refresh, client credentials, token exchange, CIBA), client
authentication methods
(``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``, ``none``), and the
introspection, revocation, registration and end-session endpoints are registered here. The
server depends on the grants and endpoint classes, never the reverse; the Flask views
(:mod:`idp.oidc.views`) call :func:`authorization_server` and stay thin.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Flask, current_app
from flask import request as flask_request

from idp.oidc.authorization_header import authenticate_client_secret_basic
from idp.oidc.clients.authentication import PrivateKeyJWT
from idp.oidc.clients.registry import get_client
from idp.oidc.endpoints.introspection import IntrospectionEndpoint
from idp.oidc.endpoints.registration import ConfigurationEndpoint, RegistrationEndpoint
from idp.oidc.endpoints.revocation import RevocationEndpoint
from idp.oidc.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdToken,
    RefreshTokenGrant,
    S256CodeChallenge,
    ciba,
)
from idp.oidc.grants.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE
from idp.oidc.grants.token_exchange import ExchangedTokenGenerator, TokenExchangeGrant
from idp.oidc.logout.rp_initiated import EndSessionEndpoint
from idp.oidc.scopes import SCOPES, SERVICE_SCOPES
from idp.oidc.tokens.access import AccessTokenGenerator
from idp.oidc.tokens.issued import save_token


class _Request(FlaskOAuth2Request):
    """Authlib's Flask request, with the URL taken from the issuer: behind a TLS-terminating
    proxy the WSGI URL is http, while the public one (what Authlib checks) is the issuer's."""

    def __init__(self, request):
        issuer = current_app.config["IDP"].issuer
        OAuth2Request.__init__(self, method=request.method, uri=issuer + request.full_path.rstrip("?"),
                               headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class IdpAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request):
        return _Request(flask_request)


def authorization_server() -> IdpAuthorizationServer:
    """This app's server (one per app: tests build several apps in one process)."""
    return current_app.extensions["idp.oauth"]


def init_server(app: Flask) -> None:
    settings = app.config["IDP"]
    server = IdpAuthorizationServer()
    server.init_app(app, query_client=get_client, save_token=save_token)
    server.scopes_supported = [*SCOPES, *SERVICE_SCOPES]
    generator = AccessTokenGenerator(settings.issuer, settings.access_token_alg, settings.access_token_ttl)
    server.register_token_generator("default", generator)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), IdToken()])
    server.register_grant(RefreshTokenGrant, [IdToken()])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_token_generator(TOKEN_EXCHANGE, ExchangedTokenGenerator(
        settings.issuer, settings.access_token_alg, settings.access_token_ttl))
    # One parser for the Basic header everywhere (malformed is 401 invalid_client, not a 500).
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    ciba.init_server(server)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_endpoint(RegistrationEndpoint)
    server.register_endpoint(ConfigurationEndpoint)
    app.extensions["idp.oauth"] = server
