"""Ending the tokens a citizen's grants produced when a session ends or the account changes
(RFC 9700 §4.14; OpenID Connect Back-Channel Logout 1.0 §2.7; OWASP ASVS 3.3).

- **A session ends** (sign-out, RP-initiated logout, the account page, expiry, a new sign-in in
  the same browser, an administrator): the refresh-token families issued in it *without*
  ``offline_access`` end, with the access tokens issued alongside, and so do the access tokens
  of codes redeemed in it without ``offline_access``. Back-Channel Logout 1.0 §2.7: "Refresh
  tokens issued without the offline_access property to a session being logged out SHOULD be
  revoked. Refresh tokens issued with the offline_access property normally SHOULD NOT be
  revoked." Written in the transaction that ends the session (a receiver of
  :data:`idp.auth.sessions.session_ending`).
- **The account is stopped or may be in other hands** (an administrator's lock, a password
  changed by the citizen or set by an administrator, "sign out of all other sessions", an
  administrator ending its sessions): every family of the citizen ends, whatever the client,
  the session or ``offline_access``, with every live access token they or the citizen's codes
  issued (:func:`end_citizen_tokens`).
- **A consent is revoked**: the same, for that one client (RFC 7009 §2.1: revoking a grant
  invalidates the tokens issued under it).

Access tokens are self-contained JWTs (RFC 9068): they end by ``jti``
(:func:`idp.oidc.tokens.access.revoke_many`), which every place a token is presented checks.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import and_, literal

from idp.auth.models import SsoSession
from idp.auth.sessions import session_ending
from idp.oidc.models import AuthorizationCode, RefreshTokenFamily
from idp.oidc.tokens.refresh import revoke_families

#: OIDC Core §11: the scope asking for tokens that outlive the citizen's session.
OFFLINE_ACCESS = "offline_access"


def without_offline_access(scope):
    """SQL: the space-separated ``scope`` column does not contain ``offline_access``."""
    return (literal(" ") + scope + literal(" ")).not_like("% offline\\_access %", escape="\\")


def end_citizen_tokens(citizen_id: int, reason: str, *, client_pk: int | None = None) -> int:
    """End every refresh-token family of the citizen (of one client with ``client_pk``) and
    every live access token issued with them or from the citizen's codes. Returns how many
    families were live. Caller commits."""
    families = RefreshTokenFamily.citizen_id == citizen_id
    codes = AuthorizationCode.citizen_id == citizen_id
    if client_pk is not None:
        families = and_(families, RefreshTokenFamily.client_pk == client_pk)
        codes = and_(codes, AuthorizationCode.client_pk == client_pk)
    return revoke_families(families, reason, codes=codes)


def end_session_tokens(session_id: int, reason: str) -> int:
    """End what the session issued without ``offline_access`` (Back-Channel Logout 1.0 §2.7).
    Returns how many families were live. Caller commits."""
    return revoke_families(
        and_(RefreshTokenFamily.session_id == session_id,
             without_offline_access(RefreshTokenFamily.scope)),
        reason,
        codes=and_(AuthorizationCode.session_id == session_id,
                   without_offline_access(AuthorizationCode.scope)))


def _on_session_ending(sender: Flask, sso_session: SsoSession, reason: str, **_) -> None:
    end_session_tokens(sso_session.id, f"session_{reason}"[:64])


def init_app(app: Flask) -> None:
    session_ending.connect(_on_session_ending, sender=app, weak=False)


__all__ = ["OFFLINE_ACCESS", "end_citizen_tokens", "end_session_tokens", "without_offline_access"]
