"""The client credentials grant (RFC 6749 §4.4) for agency back-ends: no citizen, the token's
``sub`` is the client itself (RFC 9068 §2.2). Confidential clients only."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from idp.oidc.errors import quoted
from idp.oidc.scopes import SCOPES, SERVICE_SCOPES


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self):
        refusal = refused_scope(self.request.payload.scope, self.request.client.scope)
        if refusal:
            raise InvalidScopeError(refusal)


def refused_scope(requested: str | None, allowed: str) -> str | None:
    """Why a client_credentials request for ``requested`` must be refused, or None.

    RFC 6749 §3.3: refuse scopes the server does not know or the client may not ask for;
    citizen scopes (``openid``...) mean nothing without a citizen.
    """
    permitted = set(allowed.split())
    for scope in (requested or "").split():
        if (scope not in SCOPES and scope not in SERVICE_SCOPES) or scope not in permitted:
            return f"The scope '{quoted(scope)}' is not available to this client."
        if scope == "openid":
            return "The 'openid' scope needs a citizen: use the code flow."
    return None
