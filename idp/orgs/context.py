"""Who a citizen acts as at a service: themselves, an organisation they belong to, or a child
they are parent or guardian of. The choice is made at sign-in (``idp.oidc.authorize``), stored
with the authorization code and the refresh-token family as a short reference
(``org:<id>``, ``person:<citizen id>``), and read again from the database at every later use
(:func:`resolve`), so a removed member or a child who turned 18 loses it at once.

Relying parties ask with the scope ``organization`` (organisations) or ``representation``
(persons); a citizen with no such choice simply acts as themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from idp.citizens.models import Citizen
from idp.db import db
from idp.orgs import relations
from idp.orgs.models import Membership, Organisation

ORGANIZATION_SCOPE = "organization"
REPRESENTATION_SCOPE = "representation"
SELF = "self"


@dataclass(frozen=True)
class Acting:
    """One context other than oneself."""

    ref: str
    kind: str  # "org" or "person"
    label: str
    organisation: Organisation | None = None
    roles: tuple[str, ...] = ()
    child_id: int | None = None
    relation: str | None = None

    def org_claim(self) -> dict:
        """The ``org`` claim: the organisation and the roles exactly as assigned."""
        org = self.organisation
        return {"id": org.identifier, "scheme": org.scheme, "name": org.name, "roles": list(self.roles)}


def _organisations(citizen_id: int) -> list[Acting]:
    rows = db.session.execute(
        select(Organisation, Membership.roles).join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.citizen_id == citizen_id, Organisation.activated_at.is_not(None),
               Organisation.status == "active")
        .order_by(Organisation.name)).all()
    return [Acting(ref=f"org:{org.id}", kind="org", label=org.name, organisation=org, roles=tuple(roles))
            for org, roles in rows]


def _children(citizen_id: int) -> list[Acting]:
    return [Acting(ref=f"person:{child.citizen_id}", kind="person", label=child.full_name,
                   child_id=child.citizen_id, relation=child.kind)
            for child in relations.children_of(citizen_id) if child.citizen_id is not None]


def choices(citizen_id: int, scopes) -> list[Acting]:
    """The contexts the citizen may choose for a request with ``scopes`` (besides themselves)."""
    found: list[Acting] = []
    if ORGANIZATION_SCOPE in scopes:
        found.extend(_organisations(citizen_id))
    if REPRESENTATION_SCOPE in scopes:
        found.extend(_children(citizen_id))
    return found


def resolve(ref: str | None, citizen_id: int) -> Acting | None:
    """The context ``ref`` if the citizen holds it today, else None."""
    if not ref:
        return None
    kind, _, key = ref.partition(":")
    if not (key.isascii() and key.isdigit() and len(key) < 10):
        return None
    if kind == "org":
        return next((a for a in _organisations(citizen_id) if a.organisation.id == int(key)), None)
    if kind == "person":
        relation = relations.represents(citizen_id, int(key))
        child = db.session.get(Citizen, int(key)) if relation else None
        if child is None:
            return None
        return Acting(ref=ref, kind="person", label=child.full_name, child_id=child.id, relation=relation)
    return None


def pick(value: str | None, offered: list[Acting]) -> Acting | None:
    """The context a submitted form names, among those offered. ``self`` is None; anything else
    not offered (a form edited to name another organisation) raises ValueError."""
    if value == SELF:
        return None
    for acting in offered:
        if acting.ref == value:
            return acting
    raise ValueError("not a context the citizen holds")
