"""Relying-party clients, consents, authorization codes and refresh-token families.

Every secret-like value (client secrets, codes, refresh tokens) is stored as a SHA-256 digest
of a 256-bit random value: a copy of the database hands out nothing usable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow
from idp.db.work_queue import due_index
from idp.oidc.clients.mixin import OAuthClientMixin


class Client(OAuthClientMixin, db.Model):
    """A registered relying party (OIDC Dynamic Client Registration 1.0 §2 metadata)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(NFCString(200), nullable=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic", nullable=False
    )
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    response_types: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    scope: Mapped[str] = mapped_column(String(1000), default="openid", nullable=False)
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(1000))
    subject_type: Mapped[str] = mapped_column(String(16), default="pairwise", nullable=False)
    #: The pairwise sector host (OIDC Core §8.1), fixed at registration (idp.oidc.clients.sector).
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    #: OIDC Registration §2: where the client's redirect URIs are listed by its sector's owner.
    sector_identifier_uri: Mapped[str | None] = mapped_column(String(1000))
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(1000))
    #: Back-Channel Logout 1.0 §2.2: the logout token must then carry ``sid``.
    backchannel_logout_session_required: Mapped[bool] = mapped_column(default=False, nullable=False)
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(1000))
    #: Front-Channel Logout 1.0 §2: the logout URI then gets ``iss`` and ``sid`` query parameters.
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(default=False, nullable=False)
    default_acr_values: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    logo_uri: Mapped[str | None] = mapped_column(String(1000))
    #: The agency operating the client, shown on the consent page.
    agency: Mapped[str | None] = mapped_column(NFCString(200))
    contacts: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    #: A security profile whose rules the server enforces (``fapi2``: :mod:`idp.oidc.clients.fapi2`).
    profile: Mapped[str | None] = mapped_column(String(16))
    #: RFC 9126 §6: a front-channel request must come through ``/par``.
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: RFC 9449 §5.2: every token request must carry a DPoP proof.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(default=False, nullable=False)
    enabled: Mapped[bool] = mapped_column(default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client", cascade="all, delete-orphan"
    )

    @property
    def is_public(self) -> bool:
        """RFC 6749 §2.1: a client that cannot keep a secret authenticates with ``none``."""
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()

    @property
    def client_metadata(self) -> dict:
        """Registration metadata as Authlib's endpoints read it (RFC 7591 §2)."""
        return {
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types),
            "response_types": list(self.response_types),
            "scope": self.scope,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }


class ClientSecret(db.Model):
    """A client secret's digest; an old one keeps working until ``expires_at`` after rotation."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    client: Mapped[Client] = relationship(back_populates="secrets")


class Consent(db.Model):
    """What a citizen allowed a client to receive; remembered per citizen, client and scopes."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("citizen_id", "client_pk", name="uq_consents_citizen_client"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_UNUSED = "used_at IS NULL"


class AuthorizationCode(db.Model):
    """A single-use authorization code (RFC 6749 §4.1.2), short-lived."""

    __tablename__ = "authorization_codes"
    #: The purge's first question (:mod:`idp.oidc.retention`): codes never redeemed, past
    #: expiry. Redeemed codes, kept for the retention window, are not in it.
    __table_args__ = (Index("ix_authorization_codes_unused_expires_at", "expires_at",
                            postgresql_where=text(_UNUSED), sqlite_where=text(_UNUSED)),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="SET NULL"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(1000), nullable=False)
    scope: Mapped[str] = mapped_column(String(1000), nullable=False)
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    claims: Mapped[dict | None] = mapped_column(JSON)
    #: RFC 9449 §10: the code is redeemed only with a DPoP proof of this key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Refresh-token family created on redemption: revoked if the code is presented again.
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("refresh_token_families.id", ondelete="SET NULL")
    )
    #: The access token issued on redemption, revoked with it if the code is presented again.
    access_jti: Mapped[str | None] = mapped_column(String(64))
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who the citizen chose to act for (idp.orgs.context: ``org:<id>``, ``person:<id>``).
    acting: Mapped[str | None] = mapped_column(String(64))


class RefreshTokenFamily(db.Model):
    """Every refresh token descended from one grant (RFC 9700 §4.14.2 rotation).

    Presenting a token that was already rotated revokes the whole family.
    """

    __tablename__ = "refresh_token_families"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="SET NULL"), index=True
    )
    scope: Mapped[str] = mapped_column(String(1000), nullable=False)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    #: Both indexed for the purge (:mod:`idp.oidc.retention`), which every server process runs
    #: every hour: families revoked, or started, before the retention window.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True,
                                                 nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    #: The acting context of the code it descends from, checked again at every refresh.
    acting: Mapped[str | None] = mapped_column(String(64))
    #: RFC 9449 §5: a public client's refresh tokens work only with proofs of this key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(db.Model):
    """One refresh token of a family; ``rotated_at`` is set when it was exchanged."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("refresh_token_families.id", ondelete="CASCADE"), index=True, nullable=False
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    family: Mapped[RefreshTokenFamily] = relationship(lazy="joined")
    #: The access token issued together with this refresh token (revoked with the family).
    access_jti: Mapped[str | None] = mapped_column(String(64))
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def check_client(self, client) -> bool:
        """RFC 6749 §6: a refresh token is bound to the client it was issued to."""
        return self.family.client_pk == client.id

    def get_scope(self) -> str:
        return self.family.scope


class RevokedAccessToken(db.Model):
    """A JWT access token revoked before its expiry (RFC 7009), by ``jti``, kept until ``exp``."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)


class PendingAuthorization(db.Model):
    """An authorization request waiting for the citizen to sign in or to consent.

    Kept in the database so whichever node serves ``/authorize/continue/<id>`` can resume it.
    ``created_at`` matters: a sign-in newer than it satisfies ``prompt=login`` and ``max_age``
    (OIDC Core §3.1.2.1).
    """

    __tablename__ = "pending_authorizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    params: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)


class PushedAuthorizationRequest(db.Model):
    """An authorization request pushed to ``/par`` (RFC 9126 §2), waiting for its single use at
    ``/authorize``. The ``request_uri`` is a 256-bit random value stored as a SHA-256 digest."""

    __tablename__ = "pushed_authorization_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    params: Mapped[dict] = mapped_column(JSON, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsedJti(db.Model):
    """A ``jti`` already accepted from a DPoP proof (RFC 9449 §11.1) or a request object
    (RFC 9101 §10.9 via FAPI 2.0): the digest names the kind and the signer, so two kinds
    never collide. Used when no Redis is configured (:mod:`idp.oidc.tokens.replay`)."""

    __tablename__ = "used_jtis"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)


class UsedClientAssertion(db.Model):
    """A ``jti`` of a client assertion already accepted (RFC 7523 §3 item 7: no replay)."""

    __tablename__ = "used_client_assertions"
    __table_args__ = (UniqueConstraint("client_pk", "jti_digest", name="uq_used_client_assertions_jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), nullable=False
    )
    jti_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)


class SubjectIdentifier(db.Model):
    """Which citizen a pairwise ``sub`` of a sector stands for (OIDC Core §8.1).

    Pairwise values cannot be reversed; UserInfo finds the citizen here with one indexed read.
    """

    __tablename__ = "subject_identifiers"
    __table_args__ = (UniqueConstraint("sector", "sub", name="uq_subject_identifiers_sector_sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sector: Mapped[str] = mapped_column(String(255), nullable=False)
    #: Indexed alone too: a presented access token's account is found by ``sub`` only
    #: (:func:`idp.oidc.tokens.access.locked_subject`).
    sub: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )


class LogoutDelivery(db.Model):
    """A back-channel logout token waiting for (or done with) delivery to one client
    (OpenID Connect Back-Channel Logout 1.0 §2.7).

    The queue lives in the database so a delivery survives a restart and any node can send
    it; one row per (client, session), so ending a session twice never notifies twice.
    """

    __tablename__ = "logout_deliveries"
    __table_args__ = (UniqueConstraint("client_pk", "sid", name="uq_logout_deliveries_client_pk"),
                      due_index("logout_deliveries"))

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    #: The ended session's ``sid`` (the session row itself may be purged before delivery).
    sid: Mapped[str] = mapped_column(String(64), nullable=False)
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="SET NULL"), index=True
    )
    uri: Mapped[str] = mapped_column(String(1000), nullable=False)
    jti: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: The signed logout token; re-signed (same jti) when it would expire before an attempt.
    logout_token: Mapped[str] = mapped_column(Text, nullable=False)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: pending, delivered, failed (gave up or refused by the client).
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    #: When a worker may (next) try; while a worker holds it, the end of its lease. Indexed
    #: for the pending rows only (:func:`idp.db.work_queue.due_index`).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class TokenExchangePolicy(db.Model):
    """An administrator's permission for one client to exchange citizens' access tokens for
    tokens addressed to another client (its API), within ``scope`` (RFC 8693 §1: the
    authorization server decides which exchanges it allows)."""

    __tablename__ = "token_exchange_policies"
    __table_args__ = (UniqueConstraint("client_pk", "audience_pk",
                                       name="uq_token_exchange_policies_client_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    audience_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    scope: Mapped[str] = mapped_column(String(1000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(128))
class RegistrationToken(db.Model):
    """A bearer token of dynamic client registration, stored as a SHA-256 digest.

    ``initial`` tokens (RFC 7591 §3, "initial access token") are made by an administrator for
    a trusted onboarding system and let it register clients until ``expires_at``; ``client``
    tokens (RFC 7592 §3, "registration access token") let it read, update or delete the one
    client they were issued with.
    """

    __tablename__ = "registration_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "initial" or "client"
    label: Mapped[str | None] = mapped_column(NFCString(200))
    client_pk: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: What an initial token lets a registrant get beyond the default (idp.oidc.endpoints.registration):
    #: scopes otherwise granted by an administrator only (space-separated), public subjects.
    allowed_scope: Mapped[str | None] = mapped_column(String(1000))
    allow_public_subject: Mapped[bool] = mapped_column(default=False, nullable=False)

class CibaClientSetting(db.Model):
    """CIBA Core §4 client metadata ``backchannel_token_delivery_mode`` and
    ``backchannel_client_notification_endpoint`` (a client without a row polls)."""

    __tablename__ = "ciba_client_settings"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    delivery_mode: Mapped[str] = mapped_column(String(8), default="poll", nullable=False)
    notification_endpoint: Mapped[str | None] = mapped_column(String(1000))


class CibaRequest(db.Model):
    """A backchannel authentication request (CIBA Core §7).

    ``citizen_id`` is None when ``login_hint`` named nobody: the request is stored and answered
    exactly like another, and simply never completes. ``status``: ``pending`` -> ``approved``
    or ``denied`` (the app) -> ``issued`` (tokens delivered once).
    """

    __tablename__ = "ciba_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the ``auth_req_id`` (the value itself is the client's bearer handle).
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: Public handle the citizen's app names the request by (not the auth_req_id).
    request_id: Mapped[str] = mapped_column(String(43), unique=True, nullable=False)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(1000), nullable=False)
    binding_message: Mapped[str | None] = mapped_column(NFCString(100))
    acr_values: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    delivery_mode: Mapped[str] = mapped_column(String(8), nullable=False)
    #: Ping mode (CIBA Core §10.2): the bearer token for the client's notification endpoint, and
    #: the auth_req_id to send it, both encrypted (:func:`idp.keys.service.seal`).
    notification_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    interval: Mapped[int] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    device_pk: Mapped[int | None] = mapped_column(ForeignKey("app_devices.id", ondelete="SET NULL"))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    acr: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
