"""The purge rules for the protocol's tables and the SSO sessions their rows point at.

Retention (IDP_PURGE_RETENTION) applies to rows that still say something after their end:
a redeemed code or a revoked family lets a replayed credential be recognised and its tokens
revoked; an ended session is shown to the citizen. Rows that say nothing once expired (an unused
code, an expired refresh token, the revocation of an access token that has expired anyway, a
retired client secret) go as soon as they expire.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, exists, or_, select

from idp.auth.models import SessionClient, SsoSession
from idp.maintenance import Dependent, PurgeContext, PurgeRule
from idp.oidc.clients.authentication import LEEWAY
from idp.oidc.models import (
    AuthorizationCode,
    ClientSecret,
    PendingAuthorization,
    PushedAuthorizationRequest,
    RefreshToken,
    RefreshTokenFamily,
    RevokedAccessToken,
    UsedClientAssertion,
    UsedJti,
)


def _codes(ctx: PurgeContext):
    # RFC 6749 section 4.1.2: a code used twice SHOULD revoke the tokens issued from it, so a
    # redeemed code is kept for the retention window; an unused one is worthless once expired.
    return or_(and_(AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at < ctx.now),
               AuthorizationCode.expires_at < ctx.cutoff)


def _refresh_tokens(ctx: PurgeContext):
    # A rotated token is kept until it expires: presenting it again revokes its family
    # (RFC 9700 section 4.14.2); after expiry it is refused anyway.
    return RefreshToken.expires_at < ctx.now


def _families(ctx: PurgeContext):
    no_tokens_left = ~exists(select(RefreshToken.id).where(RefreshToken.family_id == RefreshTokenFamily.id))
    return or_(RefreshTokenFamily.revoked_at < ctx.cutoff,
               and_(RefreshTokenFamily.created_at < ctx.cutoff, no_tokens_left))


def _revoked_access_tokens(ctx: PurgeContext):
    return RevokedAccessToken.expires_at < ctx.now


def _used_client_assertions(ctx: PurgeContext):
    # RFC 7523 section 3 item 7: a jti is remembered while its assertion can be accepted, which
    # is until exp plus the clock-skew leeway; after that the assertion is refused by its exp.
    return UsedClientAssertion.expires_at < ctx.now - timedelta(seconds=LEEWAY)


def _used_jtis(ctx: PurgeContext):
    # RFC 9449 section 11.1, RFC 9101: a DPoP proof or request object is refused by its own
    # iat/exp once its row expires, so the replay mark is no longer needed.
    return UsedJti.expires_at < ctx.now


def _pushed_requests(ctx: PurgeContext):
    # RFC 9126 section 4: a request_uri past its expiry is refused whether its row exists or not.
    return PushedAuthorizationRequest.expires_at < ctx.now


def _pending_authorizations(ctx: PurgeContext):
    # A request left waiting for a sign-in or a consent that never came: /authorize/continue
    # refuses it past its expiry whether its row exists or not.
    return PendingAuthorization.expires_at < ctx.now


def _sessions(ctx: PurgeContext):
    idle = timedelta(seconds=ctx.settings.session_idle_ttl)
    # Ended before the cutoff; or never ended, and past its absolute lifetime or idle past its
    # idle limit before the cutoff: an ended session is kept for the retention window after its
    # end. Each term is a range of an index (ended_at; the expiry sweep's two partial indexes of
    # the sessions not ended, ix_sso_sessions_live_*).
    live = SsoSession.ended_at.is_(None)
    return or_(SsoSession.ended_at < ctx.cutoff,
               and_(live, SsoSession.expires_at < ctx.cutoff),
               and_(live, SsoSession.last_seen_at < ctx.cutoff - idle))


def _client_secrets(ctx: PurgeContext):
    # A rotated-out secret past its grace period (IDP_CLIENT_SECRET_GRACE); the current secret
    # has no expiry.
    return ClientSecret.expires_at < ctx.now


CORE_RULES = (
    PurgeRule("authorization_codes", AuthorizationCode.__table__, _codes,
              description="unused codes past expiry; redeemed codes past the retention window"),
    PurgeRule("refresh_tokens", RefreshToken.__table__, _refresh_tokens,
              description="refresh tokens past expiry"),
    PurgeRule("refresh_token_families", RefreshTokenFamily.__table__, _families,
              dependents=(Dependent(RefreshToken.__table__.c.family_id, "delete"),
                          Dependent(AuthorizationCode.__table__.c.family_id, "set_null")),
              description="families revoked, or with no token left, before the retention window"),
    PurgeRule("revoked_access_tokens", RevokedAccessToken.__table__, _revoked_access_tokens,
              description="revocations of access tokens that have expired anyway"),
    PurgeRule("sso_sessions", SsoSession.__table__, _sessions,
              dependents=(Dependent(SessionClient.__table__.c.session_id, "delete"),
                          Dependent(AuthorizationCode.__table__.c.session_id, "set_null"),
                          Dependent(RefreshTokenFamily.__table__.c.session_id, "set_null")),
              description="sessions ended, expired or idle before the retention window"),
    PurgeRule("client_secrets", ClientSecret.__table__, _client_secrets,
              description="rotated-out client secrets past their grace period"),
    PurgeRule("used_client_assertions", UsedClientAssertion.__table__, _used_client_assertions,
              description="jti of private_key_jwt assertions past exp and the leeway (RFC 7523 3)"),
    PurgeRule("used_jtis", UsedJti.__table__, _used_jtis,
              description="jti of DPoP proofs and request objects past their acceptance window"),
    PurgeRule("pushed_authorization_requests", PushedAuthorizationRequest.__table__, _pushed_requests,
              description="pushed authorization requests past their expiry (RFC 9126)"),
    PurgeRule("pending_authorizations", PendingAuthorization.__table__, _pending_authorizations,
              description="authorization requests abandoned at the sign-in or consent page, past expiry"),
)
