"""What the server keeps for OpenID Connect CIBA (:mod:`idp.oidc.ciba`): each backchannel
authentication request, and each client's token delivery mode."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow


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
