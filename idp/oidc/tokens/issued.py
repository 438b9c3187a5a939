"""Storing what the token endpoint issued (Authlib's ``save_token`` hook).

The access token itself is never stored (it is a self-contained JWT); its ``jti`` and expiry
are kept beside the code or refresh token it came with, so that revoking those (code reuse,
refresh reuse, RFC 7009) can revoke it too. Refresh tokens are stored as digests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from sqlalchemy import bindparam

from idp.audit.log import record_after_commit
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import AuthorizationCode
from idp.oidc.tokens import dpop
from idp.oidc.tokens import refresh as families
from idp.oidc.tokens.access import unverified_claims


def save_token(token: dict, request) -> None:
    """Called by every grant after generating ``token``; the token view commits, then writes
    the audit event."""
    claims = unverified_claims(token["access_token"])
    code = request.authorization_code
    previous = request.refresh_token
    if code is not None:
        # The family first (its INSERT returns its id), then what the code row must know to
        # revoke on reuse, in one Core UPDATE (no ORM flush: nothing reads them back here).
        family_id, started = families.start_family(code) if token.get("refresh_token") else (None, None)
        dpop.bind_family(family_id, request.client)
        db.session.execute(_CODE_ISSUED, {"code_id": code.id, "family_id": family_id,
                                          "jti": claims["jti"], "exp": _exp(claims)})
        if family_id is not None:
            families.add(family_id, started, token["refresh_token"], claims)
    elif previous is not None and not families.rotate(previous, token.get("refresh_token"), claims):
        # RFC 9700 §4.14.2: exchanged by a concurrent request since it was read.
        families.report_reuse(previous, request.client.client_id)
        raise InvalidGrantError()
    grantee = request.user
    # Group-committed after the token's transaction (idp.audit.log.record_after_commit).
    record_after_commit(**issued_event(
        request.client.client_id, request.payload.grant_type, token, claims["jti"],
        citizen_id=grantee.citizen.id if grantee else None))


def issued_event(client_id: str, grant_type: str, token: dict, jti: str, *,
                 citizen_id: int | None = None) -> dict:
    """The audit event of a token response, the same wherever it was answered (here, or before
    Flask by :mod:`idp.fastpath`)."""
    return {"action": "token.issued", "actor": f"client:{client_id}", "citizen_id": citizen_id,
            "client_id": client_id,
            "details": {"grant_type": grant_type, "scope": token.get("scope", ""), "jti": jti,
                        "refresh": bool(token.get("refresh_token"))}}


_CODES = AuthorizationCode.__table__
_CODE_ISSUED = (_CODES.update().where(_CODES.c.id == bindparam("code_id"))
                .values(family_id=bindparam("family_id"), access_jti=bindparam("jti"),
                        access_expires_at=bindparam("exp")))


def _exp(claims: dict) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC) if "exp" in claims else utcnow()
