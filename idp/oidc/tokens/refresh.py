"""Refresh tokens: opaque, rotated on every use, revoked as a family on reuse
(RFC 9700 §4.14.2; RFC 6749 §6 and §10.4).

A family is every refresh token descended from one authorization code. Presenting a token
that was already exchanged means two parties hold it: the whole family is revoked, with the
access tokens issued alongside, and the event is audited.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from idp.audit.log import record
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import AuthorizationCode, RefreshToken, RefreshTokenFamily
from idp.oidc.tokens import access as access_token


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def find(token: str) -> RefreshToken | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest(token)))


def add(family_id: int, token: str, access_claims: dict) -> None:
    """Store a new refresh token of the family (its digest), in the caller's transaction.

    A Core INSERT: every token response with a refresh token writes one, and nothing in the
    request reads it back as an object."""
    ttl = current_app.config["IDP"].refresh_token_ttl
    now = utcnow()
    db.session.execute(_INSERT_TOKEN, {
        "token_digest": digest(token), "family_id": family_id, "issued_at": now,
        "expires_at": now + timedelta(seconds=ttl), "access_jti": access_claims["jti"],
        "access_expires_at": _at(access_claims["exp"])})


def start_family(code: AuthorizationCode) -> int:
    """Start the family of refresh tokens issued from ``code``; its id (one INSERT ...
    RETURNING, where an ORM object would need a flush of its own to learn it)."""
    return db.session.execute(_INSERT_FAMILY, {
        "client_pk": code.client_pk, "citizen_id": code.citizen_id, "session_id": code.session_id,
        "scope": code.scope, "auth_time": code.auth_time, "acr": code.acr,
        "amr": list(code.amr), "created_at": utcnow()}).scalar_one()


_INSERT_TOKEN = RefreshToken.__table__.insert()
_INSERT_FAMILY = RefreshTokenFamily.__table__.insert().returning(RefreshTokenFamily.__table__.c.id)


def claim(row: RefreshToken) -> bool:
    """Mark the token exchanged, atomically: False if someone exchanged it first."""
    result = db.session.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=utcnow()))
    return result.rowcount == 1


def revoke_family(family: RefreshTokenFamily, reason: str) -> None:
    """End a family and every access token issued with its refresh tokens. Caller commits."""
    now = utcnow()
    if family.revoked_at is None:
        family.revoked_at = now
        family.revoked_reason = reason
    rows = db.session.execute(
        select(RefreshToken.access_jti, RefreshToken.access_expires_at)
        .where(RefreshToken.family_id == family.id, RefreshToken.access_jti.is_not(None),
               RefreshToken.access_expires_at > now)).all()
    codes = db.session.execute(
        select(AuthorizationCode.access_jti, AuthorizationCode.access_expires_at)
        .where(AuthorizationCode.family_id == family.id, AuthorizationCode.access_jti.is_not(None),
               AuthorizationCode.access_expires_at > now)).all()
    for jti, expires_at in {*rows, *codes}:
        access_token.revoke(jti, expires_at, reason)


def report_reuse(row: RefreshToken, client_id: str) -> None:
    """RFC 9700 §4.14.2: a rotated token came back. Revoke the family; commit at once so the
    revocation stands although the request fails."""
    revoke_family(row.family, "refresh_token_reuse")
    record("token.refresh_reuse_detected", actor=f"client:{client_id}", outcome="failure",
           citizen_id=row.family.citizen_id, client_id=client_id,
           details={"family": row.family_id})
    db.session.commit()


def _at(exp: int) -> datetime:
    return datetime.fromtimestamp(exp, UTC)
