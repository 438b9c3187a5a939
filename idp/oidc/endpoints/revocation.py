"""Token revocation (RFC 7009) for access and refresh tokens.

Revoking a refresh token revokes its whole family and the access tokens issued with it
(§2.1: "SHOULD also invalidate all access tokens based on the same authorization grant").
Unknown or already invalid tokens get 200 as well (§2.2), so the endpoint tells nothing.
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from idp.audit.log import record
from idp.oidc.tokens import access as access_token
from idp.oidc.tokens import refresh as families
from idp.oidc.tokens.presented import PresentedToken, check_token_param, find_token


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def check_params(self, request, client):
        check_token_param(request)

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: PresentedToken, request) -> None:
        if token.claims is not None:
            access_token.revoke(token.claims["jti"], token.claims["exp"], "revoked")
            family_id = None
        else:
            families.revoke_family(token.refresh.family, "revoked")
            family_id = token.refresh.family_id
        record("token.revoked", actor=f"client:{token.client_id}", client_id=token.client_id,
               citizen_id=token.refresh.family.citizen_id if token.refresh else None,
               details={"token_type": token.kind, "family": family_id,
                        "jti": token.claims["jti"] if token.claims else None})
