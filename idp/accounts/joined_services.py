"""Which relying parties joined each of a citizen's SSO sessions (the account's sessions page).

Here rather than in :mod:`idp.auth.sessions`: it reads the registered clients' names, and sign-in
sits below the OpenID Connect provider that owns them.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.auth.models import SessionClient, SsoSession
from idp.db import db
from idp.oidc.models import Client


def joined_services(sessions: list[SsoSession]) -> dict[int, list[str]]:
    """For each session, the names of the relying parties that joined it, in joining order
    (the account's sessions page shows them)."""
    ids = [s.id for s in sessions]
    names: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = db.session.execute(
            select(SessionClient.session_id, Client.name)
            .join(Client, Client.id == SessionClient.client_id)
            .where(SessionClient.session_id.in_(ids))
            .order_by(SessionClient.joined_at, SessionClient.id))
        for session_id, name in rows:
            names[session_id].append(name)
    return names
