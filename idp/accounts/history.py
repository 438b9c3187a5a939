"""The citizen's sign-in history, read from the audit log (the one record of what happened)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.accounts.devices import describe
from idp.audit.models import AuditEvent
from idp.db import db

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
