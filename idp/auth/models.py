"""Credentials a citizen signs in with, and the server-side SSO session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow


class PasswordCredential(db.Model):
    """An argon2id hash of the citizen's password (never the password)."""

    __tablename__ = "password_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    hash: Mapped[str] = mapped_column(String(255), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class TotpCredential(db.Model):
    """An authenticator-app secret (RFC 6238), encrypted at rest."""

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last accepted time step: a code is never accepted twice (RFC 6238 section 5.2).
    last_used_step: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class RecoveryCode(db.Model):
    """A single-use recovery code, stored as a digest."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    digest: Mapped[str] = mapped_column(String(128), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class CertificateCredential(db.Model):
    """A digital-signature certificate the citizen has signed in with."""

    __tablename__ = "certificate_credentials"
    __table_args__ = (UniqueConstraint("fingerprint_sha256", name="uq_certificate_credentials_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(NFCString(1000), nullable=False)
    issuer: Mapped[str] = mapped_column(NFCString(1000), nullable=False)
    serial_number: Mapped[str] = mapped_column(String(80), nullable=False)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class WebAuthnCredential(db.Model):
    """A passkey (W3C WebAuthn Level 2): the public key and signature counter of a credential
    the citizen registered on the account page."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    #: The raw credential ID (WebAuthn §4 "Credential ID", at most 1023 bytes).
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True, nullable=False)
    #: COSE_Key of the credential (RFC 9052 §7), as the authenticator sent it.
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: WebAuthn §6.1.1: a counter that does not grow signals a cloned authenticator.
    sign_count: Mapped[int] = mapped_column(default=0, nullable=False)
    name: Mapped[str] = mapped_column(NFCString(100), nullable=False)
    #: The device verified the citizen (PIN or biometrics, WebAuthn §6.1 flag UV) when the
    #: passkey was made: only such a passkey may sign in without the password.
    user_verified: Mapped[bool] = mapped_column(default=False, nullable=False)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


_LIVE = "ended_at IS NULL"


class SsoSession(db.Model):
    """The citizen's single sign-on session, shared by every relying party.

    The cookie carries a random value; only its SHA-256 digest is stored here, so a database
    read does not hand out live sessions.
    """

    __tablename__ = "sso_sessions"
    #: What the expiry sweep (:func:`idp.auth.sessions.end_expired_sessions`, every few seconds
    #: in every server process) and the purge's terms for sessions never ended
    #: (:mod:`idp.oidc.retention`) read: the sessions not ended yet, by either deadline. Ended
    #: sessions stay until the purge and are not in them.
    __table_args__ = tuple(
        Index(f"ix_sso_sessions_live_{column}", column, postgresql_where=text(_LIVE),
              sqlite_where=text(_LIVE))
        for column in ("expires_at", "last_seen_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: The ``sid`` claim (OIDC Front/Back-Channel Logout): public, stable for the session.
    sid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    acr: Mapped[str] = mapped_column(String(64), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: Indexed for the purge (:mod:`idp.oidc.retention`), which looks for sessions ended
    #: before the retention window in every server process every hour.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(64))


class SessionClient(db.Model):
    """A relying party that joined an SSO session (received a code from it)."""

    __tablename__ = "session_clients"
    __table_args__ = (UniqueConstraint("session_id", "client_id", name="uq_session_clients_session_client"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="CASCADE"), index=True, nullable=False
    )
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class LoginFailureCounter(db.Model):
    """A lockout counter kept in the database while Redis is unreachable
    (:mod:`idp.auth.lockout_fallback`): every node reads and writes the same row, so spreading
    attempts over nodes during an outage gains an attacker nothing. Times are epoch seconds,
    as :mod:`idp.auth.lockout` counts them."""

    __tablename__ = "login_failure_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(nullable=False)
    blocked_until: Mapped[float] = mapped_column(Float, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, index=True, nullable=False)
