"""The citizen's side of consents: what each relying party may receive, and taking it back.

Revoking a consent also revokes the refresh tokens and the live access tokens that client holds
for the citizen (RFC 7009 section 2.1: revoking a grant invalidates the tokens issued under it),
so the client must ask again, and the citizen decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.audit.log import record
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client, Consent
from idp.oidc.tokens.ending import end_citizen_tokens


@dataclass(frozen=True)
class ConsentView:
    id: int
    client_name: str
    client_id: str
    scopes: list[str]
    granted_at: datetime


def active_consents(citizen_id: int) -> list[ConsentView]:
    rows = db.session.execute(
        select(Consent, Client).join(Client, Client.id == Consent.client_pk)
        .where(Consent.citizen_id == citizen_id, Consent.revoked_at.is_(None))
        .order_by(Consent.granted_at.desc())
    ).all()
    return [ConsentView(c.id, client.name, client.client_id, list(c.scopes), c.granted_at)
            for c, client in rows]


def revoke_consent(citizen_id: int, consent_id: int) -> bool:
    """Revoke one of the citizen's live consents; False if there is no such consent."""
    consent = db.session.scalar(select(Consent).where(
        Consent.id == consent_id, Consent.citizen_id == citizen_id, Consent.revoked_at.is_(None)))
    if consent is None:
        return False
    consent.revoked_at = utcnow()
    end_citizen_tokens(citizen_id, "consent_revoked", client_pk=consent.client_pk)
    client = db.session.get(Client, consent.client_pk)
    record("consent.revoke", actor="citizen", citizen_id=citizen_id, client_id=client.client_id,
           details={"scopes": list(consent.scopes)})
    return True
