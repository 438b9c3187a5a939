"""Token introspection (RFC 7662) for authenticated confidential clients.

A client learns about a token only if the token was issued to it or names it as an audience;
for any other token the answer is ``{"active": false}``, exactly as for an unknown one
(§2.2: "the protected resource is not allowed to introspect this particular token").
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import current_app

from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.models import Client
from idp.oidc.subject import subject_for
from idp.oidc.tokens.presented import PresentedToken, check_token_param, find_token

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request, client):
        check_token_param(request)

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: PresentedToken, client, request) -> bool:
        return may_introspect(token, client)

    def introspect_token(self, token: PresentedToken) -> dict:
        issuer = current_app.config["IDP"].issuer
        if token.claims is not None:
            return access_token_answer(token.claims, issuer)
        family = token.refresh.family
        owner = db.session.get(Client, family.client_pk)
        citizen = db.session.get(Citizen, family.citizen_id)
        return {
            "active": True, "token_type": "refresh_token", "iss": issuer,
            "client_id": owner.client_id, "scope": family.scope,
            "sub": subject_for(citizen, owner) if citizen else None,
            "exp": int(token.refresh.expires_at.timestamp()),
            "iat": int(token.refresh.issued_at.timestamp()),
        }


def may_introspect(token: PresentedToken, client) -> bool:
    """RFC 7662 §2.2: a client learns about the tokens issued to it or naming it as audience."""
    return token.client_id == client.client_id or client.client_id in token.audiences


def access_token_answer(claims, issuer: str) -> dict:
    """RFC 7662 §2.2 for an active access token: what its claims say, nothing personal."""
    body = {"active": True, "token_type": "Bearer", "iss": issuer}
    # ``act``: who acts for the citizen, nested for delegation chains (RFC 8693 §4.1, §2.2.1);
    # ``org``: the organisation the citizen acts for (idp.oidc.tokens.acting).
    for name in ("client_id", "scope", "sub", "aud", "exp", "iat", "jti", "auth_time", "acr", "act", "org"):
        if name in claims:
            body[name] = claims[name]
    return body
