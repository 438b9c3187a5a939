"""The citizen as one client sees them in one grant: who (``sub``), how and when they
authenticated, in which SSO session. Authlib passes it around as the grant's "user"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm.util import identity_key

from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow


class CitizenRef(NamedTuple):
    """What a grant needs of the citizen: the id (rows, audit) and the uid (``sub``). Codes
    and tokens are issued from this, read as two columns, not from a whole account."""

    id: int
    uid: str


def citizen_ref(citizen_id: int) -> CitizenRef | None:
    """The citizen's id and uid, or None when the account is gone; from the account this
    request already loaded when there is one (the sign-in that is answered with a code)."""
    loaded = db.session.identity_map.get(identity_key(Citizen, citizen_id))
    if loaded is not None and "uid" not in inspect(loaded).unloaded:
        return CitizenRef(citizen_id, loaded.uid)
    row = db.session.execute(_REF, {"citizen_id": citizen_id}).first()
    return CitizenRef(row.id, row.uid) if row is not None else None


_REF = select(Citizen.id, Citizen.uid).where(Citizen.id == bindparam("citizen_id"))


def active_citizen_ref(citizen_id: int) -> CitizenRef | None:
    """:func:`citizen_ref` for issuing tokens: None also when an administrator locked the
    account, so no grant (a code redeemed, a refresh token exchanged) yields tokens for it
    (RFC 9700 §4.14; ASVS 3.3). One query, as :func:`citizen_ref`."""
    row = db.session.execute(_ACTIVE_REF, {"citizen_id": citizen_id}).first()
    return active_ref(citizen_id, row.uid, row.locked_until) if row is not None else None


def active_ref(citizen_id: int, uid: str | None, locked_until) -> CitizenRef | None:
    """:func:`active_citizen_ref` from the two columns read with something else (the code
    being redeemed): None when there is no account (``uid`` None) or it is locked now."""
    if uid is None or (locked_until is not None and locked_until > utcnow()):
        return None
    return CitizenRef(citizen_id, uid)


_ACTIVE_REF = select(Citizen.id, Citizen.uid, Citizen.locked_until).where(
    Citizen.id == bindparam("citizen_id"))


@dataclass
class Grantee:
    citizen: Citizen | CitizenRef
    sub: str
    auth_time: datetime
    acr: str | None = None
    amr: list[str] = field(default_factory=list)
    session_id: int | None = None
    sid: str | None = None
    #: Who the citizen acts for (:class:`idp.orgs.context.Acting`), None for themselves, and
    #: the claims that say so in tokens (:mod:`idp.oidc.tokens.acting`).
    acting: Any = None
    context: dict = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.sub
