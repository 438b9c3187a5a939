"""Citizen accounts and the population registry.

A citizen has one account, keyed by a national identifier (Vietnam's 12-digit personal
identification number by default; the scheme is recorded so another country's fits too).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow

#: Assurance levels, as in Vietnam's Decree 69/2024 (level 2 = verified in person).
LEVEL_SELF_REGISTERED = 1
LEVEL_VERIFIED = 2


class Citizen(db.Model):
    """One person's account. Personal data come from the registry and stay NFC-normalised."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable opaque id: the input of public and pairwise ``sub`` values; never the national id.
    uid: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4()), nullable=False
    )
    full_name: Mapped[str] = mapped_column(NFCString(200), nullable=False)
    family_name: Mapped[str | None] = mapped_column(NFCString(100))
    middle_name: Mapped[str | None] = mapped_column(NFCString(100))
    given_name: Mapped[str | None] = mapped_column(NFCString(100))
    birthdate: Mapped[date] = mapped_column(Date, nullable=False)
    gender: Mapped[str] = mapped_column(String(16), nullable=False)
    email: Mapped[str | None] = mapped_column(NFCString(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False, nullable=False)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    phone_verified: Mapped[bool] = mapped_column(default=False, nullable=False)
    locale: Mapped[str | None] = mapped_column(String(16))
    #: The citizen may turn off the "sign-in from a new device" notice (and only that one).
    notify_new_device: Mapped[bool] = mapped_column(default=True, nullable=False)
    level: Mapped[int] = mapped_column(Integer, default=LEVEL_SELF_REGISTERED, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lock_reason: Mapped[str | None] = mapped_column(NFCString(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    identifiers: Mapped[list[NationalIdentifier]] = relationship(
        back_populates="citizen", cascade="all, delete-orphan"
    )


class NationalIdentifier(db.Model):
    """A national identifier held by a citizen, stored in its scheme's normal form."""

    __tablename__ = "national_identifiers"
    __table_args__ = (UniqueConstraint("scheme", "value", name="uq_national_identifiers_scheme_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False
    )
    scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    citizen: Mapped[Citizen] = relationship(back_populates="identifiers")


class RegistryEntry(db.Model):
    """A person in the national population database, as far as this server may know them.

    Registration is accepted only against an entry here; the table stands in for the online
    query a production deployment makes to the population database.
    """

    __tablename__ = "registry_entries"
    __table_args__ = (UniqueConstraint("scheme", "identifier", name="uq_registry_entries_scheme_identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    identifier: Mapped[str] = mapped_column(String(64), nullable=False)
    full_name: Mapped[str] = mapped_column(NFCString(200), nullable=False)
    birthdate: Mapped[date] = mapped_column(Date, nullable=False)
    gender: Mapped[str] = mapped_column(String(16), nullable=False)
    place_of_birth: Mapped[str | None] = mapped_column(NFCString(200))
    address: Mapped[str | None] = mapped_column(NFCString(500))
    document_number: Mapped[str | None] = mapped_column(String(32))
    #: Contacts the population database holds for the person; they count as verified.
    email: Mapped[str | None] = mapped_column(NFCString(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class ContactClaim(db.Model):
    """An email address or phone number a citizen has typed but not yet proven.

    ``Citizen.email`` and ``Citizen.phone`` hold only proven contacts (a code received there, the
    registry, or an administrator at a counter): only those sign in, recover an account or get
    notices. A claim becomes the citizen's contact when the code sent to it is entered. Nobody
    can squat an address: a claim blocks no one, and proving an address another account has
    proven is refused.
    """

    __tablename__ = "contact_claims"
    __table_args__ = (UniqueConstraint("citizen_id", "kind", name="uq_contact_claims_citizen_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), nullable=False
    )
    #: ``email`` or ``phone``.
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[str] = mapped_column(NFCString(320), nullable=False)
    #: HMAC of the code sent (None: no code sent yet, e.g. a contact from before verification).
    code_digest: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class PasswordReset(db.Model):
    """One "forgot password" request, whether or not it matched an account.

    Unknown accounts get a row too (``citizen_id`` None, a code nobody receives), so both
    answers do the same work and count against the same limit: ``key_digest`` is an HMAC of the
    national number as typed after normalisation.
    """

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KnownDevice(db.Model):
    """A browser a citizen has signed in from, known by a random cookie (only its digest is
    kept): a sign-in from a browser not in this list gets a "new device" notice."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("citizen_id", "digest", name="uq_known_devices_citizen_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), nullable=False
    )
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    browser: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True, nullable=False)
