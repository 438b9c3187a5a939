"""Which relying parties joined each of a citizen's SSO sessions: the account's sessions page
and ``idp citizens sessions`` show them.

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
    (the account page shows them; back-channel logout notifies them)."""
    return {session_id: [name for _, name in joined]
            for session_id, joined in joined_clients(sessions).items()}


def joined_clients(sessions: list[SsoSession]) -> dict[int, list[tuple[str, str]]]:
    """For each session, (client id, name) of the relying parties that joined it, in joining
    order (``idp citizens sessions`` shows both)."""
    ids = [s.id for s in sessions]
    joined: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if ids:
        rows = db.session.execute(
            select(SessionClient.session_id, Client.client_id, Client.name)
            .join(Client, Client.id == SessionClient.client_id)
            .where(SessionClient.session_id.in_(ids))
            .order_by(SessionClient.joined_at, SessionClient.id))
        for session_id, client_id, name in rows:
            joined[session_id].append((client_id, name))
    return joined
