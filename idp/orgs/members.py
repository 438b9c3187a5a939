"""An organisation's account: activation by its legal representative, members and their roles.

Rules (Decree 69/2024 art. 12: an organisation's account is used through the personal account
of its legal representative, who may authorise others):
- only the legal representative named by the organisation registry, signed in with a verified
  (level 2) account, activates the organisation; they become its first administrator;
- administrators (role ``admin``) add members by national identifier with roles, change roles,
  remove members and hand administration over; the organisation always keeps an administrator;
- role names are ``admin``, ``employee``, or names the organisation makes up (lower-case letters,
  digits, ``-``, ``_``, ``.``; at most 32 characters); tokens carry them exactly as assigned.

Every change is written to :class:`~idp.orgs.models.OrganisationEvent` (shown to the
organisation's administrators) and to the audit log. Callers commit.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.audit.log import record
from idp.citizens.messages import identifier_message
from idp.citizens.models import LEVEL_VERIFIED, Citizen, NationalIdentifier
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import InvalidIdentifier, get_scheme
from idp.orgs.models import ADMIN, Membership, Organisation, OrganisationEvent

ROLE = re.compile(r"[a-z][a-z0-9_.\-]{0,31}")
MAX_ROLES = 10


class MembershipProblem(ValueError):
    """A change refused; ``code`` names why (the pages translate it)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def parse_roles(text: str | list[str]) -> list[str]:
    """Role names from ``"employee, accountant"`` or a list: sorted, without repeats."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    roles = sorted({item.strip() for item in items if item.strip()})
    if not roles:
        raise MembershipProblem("no_role", "give at least one role")
    if len(roles) > MAX_ROLES:
        raise MembershipProblem("too_many_roles", f"at most {MAX_ROLES} roles")
    bad = [role for role in roles if not ROLE.fullmatch(role)]
    if bad:
        raise MembershipProblem("bad_role", f"not a role name: {bad[0][:40]}")
    return roles


def identifier_of(citizen_id: int) -> NationalIdentifier | None:
    return db.session.scalar(select(NationalIdentifier).where(NationalIdentifier.citizen_id == citizen_id)
                             .order_by(NationalIdentifier.id).limit(1))


def is_representative(organisation: Organisation, citizen_id: int) -> bool:
    held = identifier_of(citizen_id)
    return held is not None and (held.scheme, held.value) == (
        organisation.representative_scheme, organisation.representative)


def represented_by(citizen_id: int) -> list[Organisation]:
    """The organisations whose legal representative the citizen is (activated or not)."""
    held = identifier_of(citizen_id)
    if held is None:
        return []
    return list(db.session.scalars(select(Organisation).where(
        Organisation.representative_scheme == held.scheme, Organisation.representative == held.value)
        .order_by(Organisation.name)))


def memberships_of(citizen_id: int) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).join(Organisation).where(Membership.citizen_id == citizen_id)
        .order_by(Organisation.name)))


def membership(organisation: Organisation, citizen_id: int) -> Membership | None:
    return db.session.scalar(select(Membership).where(
        Membership.organisation_id == organisation.id, Membership.citizen_id == citizen_id))


def is_admin(organisation: Organisation, citizen_id: int) -> bool:
    member = membership(organisation, citizen_id)
    return member is not None and ADMIN in member.roles and organisation.usable


def _event(organisation: Organisation, action: str, *, actor_id: int | None, member_id: int | None,
           roles: list[str] | None = None, actor: str | None = None) -> None:
    db.session.add(OrganisationEvent(organisation_id=organisation.id, action=action, actor_id=actor_id,
                                     member_id=member_id, roles=list(roles or [])))
    record(f"org.{action}", actor=actor or ("citizen" if actor_id else "admin"), citizen_id=member_id,
           details={"organisation": f"{organisation.scheme}:{organisation.identifier}",
                    "by_citizen": actor_id, "roles": list(roles or [])})


def activate(organisation: Organisation, citizen: Citizen) -> Membership:
    """The legal representative opens the organisation's account and becomes its administrator."""
    if organisation.status != "active":
        raise MembershipProblem("dissolved", "the registry lists the organisation as dissolved")
    if not is_representative(organisation, citizen.id):
        raise MembershipProblem("not_representative",
                                "only the organisation's legal representative can activate it")
    if citizen.level < LEVEL_VERIFIED:
        raise MembershipProblem("level", "a verified (level 2) account is needed")
    if organisation.activated_at is not None:
        raise MembershipProblem("already_active", "the organisation is already activated")
    organisation.activated_at = utcnow()
    organisation.activated_by = citizen.id
    member = membership(organisation, citizen.id)
    if member is None:
        member = Membership(organisation_id=organisation.id, citizen_id=citizen.id, roles=[ADMIN])
        db.session.add(member)
    elif ADMIN not in member.roles:
        member.roles = sorted({*member.roles, ADMIN})
    db.session.flush()
    _event(organisation, "activated", actor_id=citizen.id, member_id=citizen.id, roles=member.roles)
    return member


def find_citizen(raw: str, scheme_name: str) -> Citizen:
    """The account holding a national identifier typed by an administrator."""
    scheme = get_scheme(scheme_name)
    try:
        value = scheme.parse(raw)
    except InvalidIdentifier as exc:
        raise MembershipProblem("identifier", identifier_message(exc.part)) from None
    citizen = db.session.scalar(select(Citizen).join(NationalIdentifier).where(
        NationalIdentifier.scheme == scheme.name, NationalIdentifier.value == value))
    if citizen is None:
        raise MembershipProblem("no_account", "nobody with this number has an account")
    return citizen


def _require_usable(organisation: Organisation) -> None:
    if not organisation.usable:
        raise MembershipProblem("inactive", "the organisation's account is not active")


def add_member(organisation: Organisation, citizen: Citizen, roles: list[str], *,
               actor_id: int | None, actor: str | None = None) -> Membership:
    _require_usable(organisation)
    if membership(organisation, citizen.id) is not None:
        raise MembershipProblem("already_member", "this person is already a member")
    member = Membership(organisation_id=organisation.id, citizen_id=citizen.id, roles=parse_roles(roles))
    db.session.add(member)
    db.session.flush()
    _event(organisation, "member_added", actor_id=actor_id, member_id=citizen.id, roles=member.roles,
           actor=actor)
    return member


def _admins(organisation: Organisation) -> list[Membership]:
    return [m for m in organisation.members if ADMIN in m.roles]


def set_roles(organisation: Organisation, member: Membership, roles: list[str], *,
              actor_id: int | None, actor: str | None = None) -> Membership:
    _require_usable(organisation)
    new = parse_roles(roles)
    if ADMIN not in new and [m.id for m in _admins(organisation)] == [member.id]:
        raise MembershipProblem("last_admin", "the organisation must keep an administrator")
    member.roles = new
    _event(organisation, "roles_changed", actor_id=actor_id, member_id=member.citizen_id, roles=new,
           actor=actor)
    return member


def remove_member(organisation: Organisation, member: Membership, *, actor_id: int | None,
                  actor: str | None = None) -> None:
    """The member can no longer choose the organisation; tokens issued for it stop working at
    their next use (:mod:`idp.orgs.context` reads the membership every time)."""
    if [m.id for m in _admins(organisation)] == [member.id]:
        raise MembershipProblem("last_admin", "the organisation must keep an administrator")
    _event(organisation, "member_removed", actor_id=actor_id, member_id=member.citizen_id,
           roles=member.roles, actor=actor)
    organisation.members.remove(member)
    db.session.flush()


def hand_over(organisation: Organisation, from_member: Membership, to_member: Membership) -> None:
    """Administration passes to another member; the previous administrator stays an employee."""
    _require_usable(organisation)
    if from_member.id == to_member.id:
        raise MembershipProblem("same_member", "choose another member")
    to_member.roles = sorted({*to_member.roles, ADMIN})
    _event(organisation, "roles_changed", actor_id=from_member.citizen_id, member_id=to_member.citizen_id,
           roles=to_member.roles)
    from_member.roles = sorted({*(r for r in from_member.roles if r != ADMIN)} or {"employee"})
    _event(organisation, "roles_changed", actor_id=from_member.citizen_id,
           member_id=from_member.citizen_id, roles=from_member.roles)


def events_of(organisation: Organisation, limit: int = 100) -> list[OrganisationEvent]:
    return list(db.session.scalars(select(OrganisationEvent).where(
        OrganisationEvent.organisation_id == organisation.id)
        .order_by(OrganisationEvent.id.desc()).limit(limit)))


def record_sign_in(organisation: Organisation, citizen_id: int, service: str) -> None:
    """A member signed in to a service for the organisation (shown to its administrators)."""
    db.session.add(OrganisationEvent(organisation_id=organisation.id, action="signin", actor_id=citizen_id,
                                     member_id=citizen_id, service=service[:200]))
