"""What the server keeps for sign-in with the citizen's identity app (:mod:`idp.auth.app_devices`,
:mod:`idp.auth.app_signin`): the apps' public keys, one-time enrolment links and QR sign-in
requests. Never a private key, never a PIN."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow


class AppDevice(db.Model):
    """An enrolled app: the P-256 public key (RFC 7517 JWK) it proved it holds."""

    __tablename__ = "app_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Public, random: the ``kid`` the app puts in every signed message.
    device_id: Mapped[str] = mapped_column(String(43), unique=True, nullable=False)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(NFCString(100), nullable=False)
    public_jwk: Mapped[dict] = mapped_column(JSON, nullable=False)
    #: RFC 7638 thumbprint of the key: one key, one enrolment.
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: What the app *says* about where its key lives; unverified without attestation, so it
    #: is shown to the citizen but never raises ``amr`` to ``hwk``.
    claims_hardware: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppEnrolment(db.Model):
    """A one-time enrolment link shown as a QR code on the account page (digest only)."""

    __tablename__ = "app_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppSignInRequest(db.Model):
    """A cross-device sign-in request: shown as a QR code in one browser, answered by an app.

    ``status``: ``pending`` -> ``approved`` or ``denied`` (the app) -> ``used`` (the browser
    continued). ``binding_digest`` ties it to the browser session that displayed it;
    ``number`` is what that browser shows and the citizen must pick in the app.
    """

    __tablename__ = "app_signin_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(43), unique=True, nullable=False)
    binding_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    number: Mapped[int] = mapped_column(nullable=False)
    choices: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    service: Mapped[str | None] = mapped_column(NFCString(200))
    next_url: Mapped[str | None] = mapped_column(String(2000))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    device_pk: Mapped[int | None] = mapped_column(ForeignKey("app_devices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
