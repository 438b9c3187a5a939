"""The citizen's sign-in history, read from the audit log (the one record of what happened),
and the sign-ins a parent or guardian made on their behalf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.accounts.devices import describe
from idp.audit.models import AuditEvent
from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.models import Client

HISTORY_LENGTH = 50
#: The identity app's events (:mod:`idp.auth.app_devices`, :mod:`idp.auth.app_signin`,
#: :mod:`idp.oidc.grants.ciba`) are part of the history: the "device" is then the app's name.
APP_EVENTS = ("app.enrolled", "app.removed", "app.signin_approved", "app.signin_denied",
              "ciba.approved", "ciba.denied")


@dataclass(frozen=True)
class SignIn:
    at: datetime
    method: str
    succeeded: bool
    reason: str | None
    ip_address: str | None
    device: str | None


def sign_ins(citizen_id: int, limit: int = HISTORY_LENGTH) -> list[SignIn]:
    """The citizen's latest sign-in attempts and identity-app events, newest first."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.citizen_id == citizen_id, AuditEvent.action.in_(("signin", *APP_EVENTS)))
        .order_by(AuditEvent.id.desc()).limit(limit)
    )
    return [SignIn(at=e.at, method=str(e.details.get("method", "")) if e.action == "signin" else e.action,
                   succeeded=e.outcome == "success", reason=e.details.get("reason"), ip_address=e.ip_address,
                   device=describe(e.user_agent) if e.action == "signin" else e.details.get("device_name"))
            for e in events]


@dataclass(frozen=True)
class OnBehalf:
    """A sign-in to a service made for the citizen by a parent or guardian."""

    at: datetime
    by: str
    relation: str | None
    service: str


def on_behalf(citizen_id: int, limit: int = HISTORY_LENGTH) -> list[OnBehalf]:
    """Sign-ins made on the citizen's behalf (``signin.on_behalf``, :mod:`idp.oidc.tokens.acting`),
    newest first, with who made them and at which service."""
    events = list(db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.citizen_id == citizen_id, AuditEvent.action == "signin.on_behalf")
        .order_by(AuditEvent.id.desc()).limit(limit)))
    ids = {e.details.get("by_citizen") for e in events} - {None}
    names = dict(db.session.execute(select(Citizen.id, Citizen.full_name).where(Citizen.id.in_(ids))).all()) \
        if ids else {}
    clients = {e.client_id for e in events} - {None}
    services = dict(db.session.execute(select(Client.client_id, Client.name)
                                       .where(Client.client_id.in_(clients))).all()) if clients else {}
    return [OnBehalf(at=e.at, by=names.get(e.details.get("by_citizen"), ""),
                     relation=e.details.get("relation"),
                     service=services.get(e.client_id, e.client_id or "")) for e in events]
