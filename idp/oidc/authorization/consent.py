"""The citizen's consent (OIDC Core §3.1.2.4): asked once per client and set of scopes, then
remembered; asked again when a client wants more, or on ``prompt=consent``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from idp.audit.log import record
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client, Consent
from idp.oidc.scopes import NO_CONSENT, SCOPES


@dataclass(frozen=True)
class Remembered:
    """The citizen's consent to a client as a caller read it with a statement of its own
    (:func:`join_remembered`): ``scopes`` is None when none was ever given."""

    client_pk: int
    scopes: list[str] | None
    revoked_at: datetime | None


def join_remembered(from_clause, citizen_id, client_pk):
    """``from_clause`` outer-joined to the consent of the citizen ``citizen_id`` to the client
    ``client_pk`` (bound parameters or columns of ``from_clause``), and the columns to select
    for :func:`remembered_from`: a caller reads the consent with a statement of its own."""
    joined = from_clause.outerjoin(
        _CONSENTS, (_CONSENTS.c.citizen_id == citizen_id) & (_CONSENTS.c.client_pk == client_pk))
    return joined, [_CONSENTS.c.scopes.label("consent_scopes"),
                    _CONSENTS.c.revoked_at.label("consent_revoked_at")]


def remembered_from(row, client_pk: int) -> Remembered:
    """The consent to the client ``client_pk`` read in ``row`` (:func:`join_remembered`)."""
    return Remembered(client_pk, row.consent_scopes, row.consent_revoked_at)


def needs_consent(citizen_id: int, client: Client, scopes: list[str], *,
                  remembered: Remembered | None = None) -> bool:
    """Whether the consent page is due. ``remembered``: the consent already read with another
    statement (a sign-in reads it with the stored request), used when it is the same client's."""
    wanted = set(scopes) - NO_CONSENT
    if not wanted:
        return False
    if remembered is None or remembered.client_pk != client.id:
        consent = db.session.execute(_REMEMBERED, {"citizen_id": citizen_id, "client_pk": client.id}).first()
    else:
        consent = remembered if remembered.scopes is not None else None
    return consent is None or consent.revoked_at is not None or not wanted <= set(consent.scopes)


_CONSENTS = Consent.__table__
#: What :func:`needs_consent` reads, built once: every authorization asks, and only needs
#: two columns, not an ORM object.
_REMEMBERED = select(Consent.scopes, Consent.revoked_at).where(
    Consent.citizen_id == bindparam("citizen_id"), Consent.client_pk == bindparam("client_pk"))


def grant(citizen_id: int, client: Client, scopes: list[str]) -> Consent:
    """Remember the consent (adding to what was granted before) and audit it. Caller commits."""
    consent = db.session.scalar(select(Consent).where(
        Consent.citizen_id == citizen_id, Consent.client_pk == client.id))
    if consent is None or consent.revoked_at is not None:
        previous: set[str] = set()
        if consent is None:
            consent = Consent(citizen_id=citizen_id, client_pk=client.id)
            db.session.add(consent)
    else:
        previous = set(consent.scopes)
    consent.scopes = sorted(previous | set(scopes))
    consent.granted_at = utcnow()
    consent.revoked_at = None
    record("consent.given", actor="citizen", citizen_id=citizen_id, client_id=client.client_id,
           details={"scopes": consent.scopes})
    return consent


def describe(scopes: list[str]) -> list[str]:
    """What the consent page lists, in plain words, in the citizen's language."""
    return [str(SCOPES[s][1]) for s in scopes if s in SCOPES]
