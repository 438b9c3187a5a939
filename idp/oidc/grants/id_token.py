"""The ID token (OIDC Core §2, §3.1.3.6), added to token responses whose scope has ``openid``.

Claims: iss, sub, aud, exp, iat, auth_time, nonce (from the authorization request), acr, amr,
sid (Front/Back-Channel Logout §2), at_hash, and the acting context (``org`` or ``act``,
:mod:`idp.oidc.tokens.acting`). No personal data: UserInfo carries it.
Signed with the client's ``id_token_signed_response_alg`` or ``IDP_SIGNING_ALG`` (RS256);
``alg: none`` is never produced.
"""

from __future__ import annotations

from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from flask import current_app

from idp import clock
from idp.keys import compact_jws


def id_token_alg(client) -> str:
    return client.id_token_signed_response_alg or current_app.config["IDP"].signing_alg


def _requested_claims(code, grantee) -> dict:
    """OIDC Core §5.5: claims the ``claims`` parameter asked for in the ID token, released as
    UserInfo releases them (the consented scopes only: :mod:`idp.oidc.authorization.claims_parameter`)."""
    from idp.citizens.models import Citizen
    from idp.db import db
    from idp.oidc.authorization.claims_parameter import id_token_claims
    from idp.oidc.claims import user_claims

    names = id_token_claims(code.claims)
    citizen = db.session.get(Citizen, grantee.citizen.id) if names else None
    if citizen is None:
        return {}
    released = user_claims(citizen, grantee.sub, code.scope.split())
    return {name: released[name] for name in names if name in released and name != "sub"}


class IdToken(OpenIDCode):
    """Authlib's OpenID extension, signing with our rotating keys (one class for the code and
    the refresh grant: a refreshed token response carries a new ID token, §12.2)."""

    def __init__(self):
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce, request) -> bool:
        # Nonce replay is the relying party's check (OIDC Core §3.1.3.7 item 11).
        return False

    def encode_id_token(self, token, request):
        settings = current_app.config["IDP"]
        client = request.client
        grantee = request.user
        alg = id_token_alg(client)
        now = int(clock.time())
        claims = {
            "iss": settings.issuer,
            "sub": grantee.sub,
            "aud": client.client_id,
            "exp": now + settings.id_token_ttl,
            "iat": now,
            "auth_time": int(grantee.auth_time.timestamp()),
        }
        code = request.authorization_code
        if code is not None and code.nonce:
            claims["nonce"] = code.nonce
        if grantee.acr:
            claims["acr"] = grantee.acr
        if grantee.amr:
            claims["amr"] = list(grantee.amr)
        if grantee.sid:
            claims["sid"] = grantee.sid
        claims.update(grantee.context)  # who the citizen acts for (idp.oidc.tokens.acting)
        if code is not None and code.claims:
            claims.update(_requested_claims(code, grantee))
        at_hash = create_half_hash(token["access_token"], alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode()
        return compact_jws.sign(claims, alg=alg, typ="JWT")
