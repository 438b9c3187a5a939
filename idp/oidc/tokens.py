"""Storing what the token endpoint issued (Authlib's ``save_token`` hook).

The access token itself is never stored (it is a self-contained JWT); its ``jti`` and expiry
are kept beside the code or refresh token it came with, so that revoking those (code reuse,
refresh reuse, RFC 7009) can revoke it too. Refresh tokens are stored as digests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from idp.audit.log import record_after_commit
from idp.db.types import utcnow
from idp.oidc import refresh_token as families
from idp.oidc.access_token import unverified_claims


def save_token(token: dict, request) -> None:
    """Called by every grant after generating ``token``; the token view commits, then writes
    the audit event."""
    claims = unverified_claims(token["access_token"])
    code = request.authorization_code
    previous = request.refresh_token
    if code is not None:
        # The family first (its INSERT returns its id), then every change to the code row,
        # so the code is written by one UPDATE rather than two.
        family_id = families.start_family(code) if token.get("refresh_token") else None
        code.access_jti = claims["jti"]
        code.access_expires_at = _exp(claims)
        if family_id is not None:
            code.family_id = family_id
            families.add(family_id, token["refresh_token"], claims)
    elif previous is not None and token.get("refresh_token"):
        families.add(previous.family_id, token["refresh_token"], claims)
    grantee = request.user
    # Group-committed after the token's transaction (idp.audit.log.record_after_commit).
    record_after_commit(
        "token.issued", actor=f"client:{request.client.client_id}",
        citizen_id=grantee.citizen.id if grantee else None, client_id=request.client.client_id,
        details={"grant_type": request.payload.grant_type, "scope": token.get("scope", ""),
                 "jti": claims["jti"], "refresh": bool(token.get("refresh_token"))})


def _exp(claims: dict) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC) if "exp" in claims else utcnow()
