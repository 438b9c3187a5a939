"""Organisations, their members, and the people a citizen may act for.

- :class:`Organisation`: a legal entity of the organisation registry (``idp orgs import``),
  keyed by its registration number (``vn-tax-code``, ``ru-ogrn``). Its account exists once its
  legal representative activated it (``activated_at``), as Decree 69/2024 art. 12 has an
  organisation's account used through its representative's personal account.
- :class:`Membership`: a citizen who may act for an organisation, with the roles it gave them.
- :class:`OrganisationEvent`: what changed in an organisation's account and who signed in for
  it, shown to its administrators (the audit log records the same events).
- :class:`Relation`: a parent or guardian and a child, from the population registry
  (``idp relations import``), by national identifier: either may have no account yet.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.db import db
from idp.db.types import NFCString, UTCDateTime, utcnow

#: Roles every organisation has; others are named by the organisation when it assigns them.
ADMIN = "admin"
EMPLOYEE = "employee"


class Organisation(db.Model):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("scheme", "identifier", name="uq_organisations_scheme_identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    identifier: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(NFCString(300), nullable=False)
    #: The legal representative's personal identifier (population registry scheme and number).
    representative_scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    representative: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    address: Mapped[str | None] = mapped_column(NFCString(500))
    registered_on: Mapped[date] = mapped_column(Date, nullable=False)
    #: ``active`` or ``dissolved`` (the registry's word); a dissolved one cannot be acted for.
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_by: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"))

    members: Mapped[list[Membership]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="Membership.id")

    @property
    def usable(self) -> bool:
        """Its account is activated and the registry has not closed it."""
        return self.activated_at is not None and self.status == "active"


class Membership(db.Model):
    __tablename__ = "organisation_members"
    __table_args__ = (UniqueConstraint("organisation_id", "citizen_id",
                                       name="uq_organisation_members_organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True, nullable=False)
    #: Role names exactly as assigned, sorted; they go into tokens as they are.
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    organisation: Mapped[Organisation] = relationship(back_populates="members")


class OrganisationEvent(db.Model):
    __tablename__ = "organisation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    #: ``activated``, ``member_added``, ``member_removed``, ``roles_changed``, ``signin``.
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    #: The citizen who did it (None: an administrator at the command line).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"))
    #: The member it concerns.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id", ondelete="SET NULL"))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    #: For a sign-in: the service's name.
    service: Mapped[str | None] = mapped_column(NFCString(200))


class Relation(db.Model):
    __tablename__ = "representation_relations"
    __table_args__ = (UniqueConstraint("parent_scheme", "parent_identifier", "child_scheme",
                                       "child_identifier", name="uq_representation_relations_parent_scheme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    parent_identifier: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    child_scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    child_identifier: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    #: ``parent`` or ``guardian``.
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
