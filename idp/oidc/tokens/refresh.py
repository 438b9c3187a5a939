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
from sqlalchemy import CTE, Insert, bindparam, or_, select, update
from sqlalchemy.orm import contains_eager

from idp.audit.log import record
from idp.auth.models import SsoSession
from idp.citizens.models import Citizen
from idp.db import autocommit, db
from idp.db.autocommit import transaction_from_here
from idp.db.types import utcnow
from idp.oidc.models import AuthorizationCode, RefreshToken, RefreshTokenFamily
from idp.oidc.tokens import access as access_token


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _presentable(token) -> bool:
    """A value that can be one of our refresh tokens (anything else is looked up nowhere)."""
    return bool(token) and len(token) <= 200


def find(token: str) -> RefreshToken | None:
    if not _presentable(token):
        return None
    return db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest(token)))


def find_for_exchange(token: str) -> tuple[RefreshToken, str | None, datetime | None, str | None] | None:
    """:func:`find` with what an exchange needs of its family's citizen (``uid`` and the lock
    ``locked_until``, both None when the account is gone) and of its SSO session (``sid``, None
    without one or once purged), in the same query, as a code redemption reads its code."""
    if not _presentable(token):
        return None
    return db.session.execute(_FOR_EXCHANGE, {"digest": digest(token)}).first()


# Built once, with a bound parameter: every refresh runs it. The family is the one joined here
# (contains_eager), not a second join of the relationship's own.
_FOR_EXCHANGE = (
    select(RefreshToken, Citizen.uid, Citizen.locked_until, SsoSession.sid)
    .join(RefreshTokenFamily, RefreshTokenFamily.id == RefreshToken.family_id)
    .outerjoin(Citizen, Citizen.id == RefreshTokenFamily.citizen_id)
    .outerjoin(SsoSession, SsoSession.id == RefreshTokenFamily.session_id)
    .options(contains_eager(RefreshToken.family))
    .where(RefreshToken.token_digest == bindparam("digest")))


def add(family_id: int, family_created_at: datetime, token: str, access_claims: dict) -> None:
    """Store a new refresh token of the family (its digest), in the caller's transaction.

    It expires ``IDP_REFRESH_TOKEN_TTL`` from now, but never after the family's end
    (:func:`family_end`), so its ``exp`` at introspection is the true one.
    A Core INSERT: every token response with a refresh token writes one, and nothing in the
    request reads it back as an object."""
    row = {"family_id": family_id, **_successor(family_created_at, token, access_claims, utcnow())}
    autocommit.in_transaction(_INSERT_TOKEN, row)


def _successor(family_created_at: datetime, token: str, access_claims: dict, now: datetime) -> dict:
    """A new refresh token's row, but for its family."""
    ttl = current_app.config["IDP"].refresh_token_ttl
    return {"token_digest": digest(token), "issued_at": now,
            "expires_at": min(now + timedelta(seconds=ttl), family_end(family_created_at)),
            "access_jti": access_claims["jti"], "access_expires_at": _at(access_claims["exp"])}


def family_end(created_at: datetime) -> datetime:
    """When a family ends however recently its last token was rotated: ``IDP_REFRESH_TOKEN_MAX_AGE``
    after the grant it descends from (RFC 9700 §4.14.2: refresh tokens "expire ... after a
    certain time", rotation must not make a stolen chain immortal)."""
    return created_at + timedelta(seconds=current_app.config["IDP"].refresh_token_max_age)


def is_expired(row: RefreshToken, now: datetime | None = None) -> bool:
    """The token's own expiry, or its family's end (read at use, so lowering
    ``IDP_REFRESH_TOKEN_MAX_AGE`` applies to the tokens already issued)."""
    now = now or utcnow()
    return row.expires_at <= now or family_end(row.family.created_at) <= now


def start_family(code: AuthorizationCode, dpop_jkt: str | None, now: datetime) -> int:
    """Start the family of refresh tokens issued from ``code`` (bound to ``dpop_jkt``, if any);
    its id (one INSERT ... RETURNING, where an ORM object would need a flush of its own)."""
    return autocommit.in_transaction(_INSERT_FAMILY, _family_row(code, dpop_jkt, now)).scalar_one()


def _family_row(code: AuthorizationCode, dpop_jkt: str | None, now: datetime) -> dict:
    """The row of the family started from ``code``, but for its id."""
    return {"client_pk": code.client_pk, "citizen_id": code.citizen_id, "session_id": code.session_id,
            "scope": code.scope, "auth_time": code.auth_time, "acr": code.acr,
            "amr": list(code.amr), "created_at": now, "acting": code.acting, "dpop_jkt": dpop_jkt}


# -- in one statement with the write they depend on (PostgreSQL: WITH ... INSERT ... SELECT) --
# Parameters are not named after columns: an UPDATE in the same statement would take such
# parameters as values to set.


def started_after(family_id) -> CTE:
    """``INSERT INTO refresh_token_families (id, ...) SELECT <family_id>, ... RETURNING id`` as
    a CTE: the family started with the id an earlier part of the statement returns, and only
    when that part wrote a row. Its parameters: :func:`family_params`."""
    return _FAMILIES.insert().from_select(
        ["id", *_FAMILY],
        select(family_id, *(bindparam(f"family_{name}", type_=_FAMILIES.c[name].type) for name in _FAMILY))
    ).returning(_FAMILIES.c.id).cte("family")


def family_params(code: AuthorizationCode, dpop_jkt: str | None, now: datetime) -> dict:
    return {f"family_{name}": value for name, value in _family_row(code, dpop_jkt, now).items()}


def added_after(family_id) -> Insert:
    """``INSERT INTO refresh_tokens SELECT <family_id>, ... RETURNING id``: a token of the family
    an earlier part of the statement returns, stored exactly when that part wrote a row (the
    returned id says so: psycopg's rowcount is -1 here). Its parameters: :func:`token_params`."""
    return _TOKENS.insert().from_select(
        ["family_id", *_SUCCESSOR],
        select(family_id, *(bindparam(f"new_{name}", type_=_TOKENS.c[name].type) for name in _SUCCESSOR))
    ).returning(_TOKENS.c.id)


def token_params(family_created_at: datetime, token: str, access_claims: dict, now: datetime) -> dict:
    return {f"new_{name}": value
            for name, value in _successor(family_created_at, token, access_claims, now).items()}


_TOKENS = RefreshToken.__table__
_FAMILIES = RefreshTokenFamily.__table__
_INSERT_TOKEN = _TOKENS.insert()
_INSERT_FAMILY = _FAMILIES.insert().returning(_FAMILIES.c.id)
_SUCCESSOR = ("token_digest", "issued_at", "expires_at", "access_jti", "access_expires_at")
_FAMILY = ("client_pk", "citizen_id", "session_id", "scope", "auth_time", "acr", "amr", "created_at",
           "acting", "dpop_jkt")


def rotate(previous: RefreshToken, token: str | None, access_claims: dict) -> bool:
    """Mark ``previous`` exchanged and store its successor ``token`` (when the response carries
    one) atomically: False, and nothing stored, when someone exchanged it first.

    On PostgreSQL one statement does both, so the refresh request needs no transaction of its
    own (:func:`idp.db.autocommit.statements_commit_alone`): a node that dies after it
    has either rotated the token or not, never half. On SQLite, two in the request's
    transaction."""
    now = utcnow()
    if token is not None and db.session.get_bind().dialect.name == "postgresql":
        return db.session.execute(_CLAIM_AND_ADD, {
            "previous": previous.id, "now": now,
            **token_params(previous.family.created_at, token, access_claims, now)}).first() is not None
    claimed = db.session.execute(_CLAIM, {"previous": previous.id, "now": now}).rowcount == 1
    if claimed and token is not None:
        add(previous.family_id, previous.family.created_at, token, access_claims)
    return claimed


_CLAIM = (_TOKENS.update().where(_TOKENS.c.id == bindparam("previous"), _TOKENS.c.rotated_at.is_(None))
          .values(rotated_at=bindparam("now", type_=_TOKENS.c.rotated_at.type)))
# WITH claimed AS (UPDATE ... RETURNING family_id) INSERT ... SELECT ... FROM claimed: the
# successor exists exactly when the claim succeeded (PostgreSQL only: SQLite has no UPDATE
# inside WITH).
_CLAIM_AND_ADD = added_after(_CLAIM.returning(_TOKENS.c.family_id).cte("claimed").c.family_id)


def revoke_family(family: RefreshTokenFamily, reason: str) -> None:
    """End a family and every access token issued with its refresh tokens. Caller commits."""
    revoke_families(RefreshTokenFamily.id == family.id, reason)


def revoke_families(condition, reason: str, *, codes=None) -> int:
    """End every family matching ``condition`` (a clause on :class:`RefreshTokenFamily`) and
    the live access tokens issued with them, or from the codes that started them; with
    ``codes`` (a clause on :class:`AuthorizationCode`), also the access tokens issued from
    those codes (grants that came without a refresh token). Returns how many families were
    live. Caller commits."""
    now = utcnow()
    families = select(RefreshTokenFamily.id).where(condition).scalar_subquery()
    ended = db.session.execute(
        update(RefreshTokenFamily)
        .where(RefreshTokenFamily.id.in_(families), RefreshTokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session="fetch")).rowcount
    issued_with = db.session.execute(
        select(RefreshToken.access_jti, RefreshToken.access_expires_at)
        .where(RefreshToken.family_id.in_(families), RefreshToken.access_jti.is_not(None),
               RefreshToken.access_expires_at > now)).all()
    from_codes = AuthorizationCode.family_id.in_(families)
    if codes is not None:
        from_codes = or_(from_codes, codes)
    issued_from = db.session.execute(
        select(AuthorizationCode.access_jti, AuthorizationCode.access_expires_at)
        .where(from_codes, AuthorizationCode.access_jti.is_not(None),
               AuthorizationCode.access_expires_at > now)).all()
    access_token.revoke_many({*issued_with, *issued_from}, reason)
    return ended


def report_reuse(row: RefreshToken, client_id: str) -> None:
    """RFC 9700 §4.14.2: a rotated token came back. Revoke the family; commit at once so the
    revocation stands although the request fails (one transaction: several statements)."""
    transaction_from_here()
    revoke_family(row.family, "refresh_token_reuse")
    record("token.refresh_reuse_detected", actor=f"client:{client_id}", outcome="failure",
           citizen_id=row.family.citizen_id, client_id=client_id,
           details={"family": row.family_id})
    db.session.commit()


def _at(exp: int) -> datetime:
    return datetime.fromtimestamp(exp, UTC)
