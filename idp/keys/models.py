"""Signing keys, shared by every node through the database.

The private key is stored encrypted with a key derived from ``IDP_SECRET_KEY``; the public
JWK is kept beside it so the JWKS is served without touching private material.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import UTCDateTime, utcnow


class SigningKey(db.Model):
    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    alg: Mapped[str] = mapped_column(String(16), index=True, nullable=False)
    public_jwk: Mapped[dict] = mapped_column(JSON, nullable=False)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    #: Set when a newer key of the same alg takes over signing.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Stays in the JWKS until then: the expiry of the last token it may have signed.
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
