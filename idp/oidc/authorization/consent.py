"""The citizen's consent (OIDC Core §3.1.2.4): asked once per client and set of scopes, then
remembered; asked again when a client wants more, or on ``prompt=consent``."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from idp.audit.log import record
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client, Consent
from idp.oidc.scopes import NO_CONSENT, SCOPES


def needs_consent(citizen_id: int, client: Client, scopes: list[str]) -> bool:
    wanted = set(scopes) - NO_CONSENT
    if not wanted:
        return False
    consent = db.session.execute(_REMEMBERED, {"citizen_id": citizen_id, "client_pk": client.id}).first()
    return consent is None or consent.revoked_at is not None or not wanted <= set(consent.scopes)


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
