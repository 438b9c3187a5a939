"""Storing what the token endpoint issued (Authlib's ``save_token`` hook).

The access token itself is never stored (it is a self-contained JWT); its ``jti`` and expiry
are kept beside the code or refresh token it came with, so that revoking those (code reuse,
refresh reuse, RFC 7009) can revoke it too. Refresh tokens are stored as digests.

A code is claimed here, when what it yields is stored, in the same step (:func:`redeem`):
the code marked used with the access token's ``jti``, the refresh-token family started with
its first token. On PostgreSQL that is one statement and the request has no transaction of
its own (:mod:`idp.db.autocommit`; the grant reads the code, then this writes): two round
trips to the database for the whole redemption, where a transaction around five statements
took seven. A code redeemed by a concurrent request between the read and the claim is
caught by the claim (``used_at IS NULL``), nothing of this request is stored, and what the
other request issued is revoked (RFC 6749 §4.1.2), as for a code presented twice in turn.
"""

from __future__ import annotations

from datetime import UTC, datetime

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from sqlalchemy import bindparam, func

from idp.audit.log import record, record_after_commit
from idp.db import autocommit, db
from idp.db.types import utcnow
from idp.oidc.models import AuthorizationCode, RefreshTokenFamily
from idp.oidc.tokens import access as access_token
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
        if not redeem(code, token.get("refresh_token"), claims, dpop.family_key(request.client)):
            revoke_issued_from(code.id, request.client)
            raise InvalidGrantError("The authorization code was already used.")
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


def redeem(code: AuthorizationCode, refresh: str | None, claims: dict, dpop_jkt: str | None) -> bool:
    """Claim ``code`` and store what it yields: the access token's ``jti`` and expiry on the
    code, and with a ``refresh`` token a new family (bound to ``dpop_jkt``) holding it. False,
    and nothing stored, when the code was claimed since it was read."""
    now = utcnow()
    claim = {"b_code": code.id, "b_now": now, "b_jti": claims["jti"], "b_exp": _exp(claims)}
    if refresh is None:
        return autocommit.execute(_CLAIM, {**claim, "b_family": None}).rowcount == 1
    if db.session.get_bind().dialect.name == "postgresql":
        return autocommit.execute(_CLAIM_AND_START, {
            **claim, **families.family_params(code, dpop_jkt, now),
            **families.token_params(now, refresh, claims, now)}).first() is not None
    # SQLite (no UPDATE inside WITH): the family first, for its id, in the request's
    # transaction, which the caller rolls back when the claim fails.
    family_id = families.start_family(code, dpop_jkt, now)
    if autocommit.in_transaction(_CLAIM, {**claim, "b_family": family_id}).rowcount != 1:
        return False
    families.add(family_id, now, refresh, claims)
    return True


def revoke_issued_from(code_id: int, client) -> None:
    """RFC 6749 §4.1.2: a code presented again; revoke the tokens issued from it (committed
    now, whatever the request answers)."""
    db.session.rollback()  # nothing of this request is kept
    row = db.session.get(AuthorizationCode, code_id)
    if row.access_jti and row.access_expires_at and row.access_expires_at > utcnow():
        access_token.revoke(row.access_jti, row.access_expires_at, "code_reuse")
    if row.family_id is not None:
        families.revoke_family(db.session.get(RefreshTokenFamily, row.family_id), "code_reuse")
    record("token.code_reuse_detected", actor=f"client:{client.client_id}", outcome="failure",
           citizen_id=row.citizen_id, client_id=client.client_id)
    db.session.commit()


_CODES = AuthorizationCode.__table__
# Parameters are not named after columns: an UPDATE takes such parameters as values to set.
_CLAIM_BASE = _CODES.update().where(_CODES.c.id == bindparam("b_code"), _CODES.c.used_at.is_(None))
_CLAIM_VALUES = {"used_at": bindparam("b_now", type_=_CODES.c.used_at.type),
                 "access_jti": bindparam("b_jti", type_=_CODES.c.access_jti.type),
                 "access_expires_at": bindparam("b_exp", type_=_CODES.c.access_expires_at.type)}
_CLAIM = _CLAIM_BASE.values(**_CLAIM_VALUES, family_id=bindparam("b_family", type_=_CODES.c.family_id.type))
# PostgreSQL: WITH claimed AS (UPDATE codes ... family_id = nextval(...) RETURNING family_id),
# family AS (INSERT families SELECT claimed.family_id, ... RETURNING id) INSERT INTO
# refresh_tokens SELECT family.id, ...: the family and its token exist exactly when the claim
# succeeded. The code names the family before the family's row is written in the same
# statement; its foreign key is checked at the statement's end.
_CLAIMED = (_CLAIM_BASE.values(**_CLAIM_VALUES, family_id=func.nextval(
    func.pg_get_serial_sequence(RefreshTokenFamily.__tablename__, "id")))
    .returning(_CODES.c.family_id).cte("claimed"))
_CLAIM_AND_START = families.added_after(families.started_after(_CLAIMED.c.family_id).c.id)


def _exp(claims: dict) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC) if "exp" in claims else utcnow()
