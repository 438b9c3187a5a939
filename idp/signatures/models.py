"""One-time challenges for certificate sign-in, kept in the database so any node can check them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import UTCDateTime, utcnow


class SignatureChallenge(db.Model):
    """A random challenge a browser session must sign once, within its short life.

    Stored as digests: the challenge's SHA-256 (to look it up) and the SHA-256 of the browser
    session id it is bound to, so a database read reveals neither.
    """

    __tablename__ = "signature_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    binding_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The signed origin statement the citizen's signer posted itself (the origin-bound flow),
    #: kept until the browser holding the challenge continues; public data (a signature).
    direct_response: Mapped[str | None] = mapped_column(Text())
