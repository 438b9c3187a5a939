"""The citizen's sign-in history, read from the audit log (the one record of what happened)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.accounts.devices import describe
from idp.audit.models import AuditEvent
from idp.db import db

HISTORY_LENGTH = 50


@dataclass(frozen=True)
class SignIn:
    at: datetime
    method: str
    succeeded: bool
    reason: str | None
    ip_address: str | None
    device: str | None


def sign_ins(citizen_id: int, limit: int = HISTORY_LENGTH) -> list[SignIn]:
    """The citizen's latest sign-in attempts, newest first."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.citizen_id == citizen_id, AuditEvent.action == "signin")
        .order_by(AuditEvent.id.desc()).limit(limit)
    )
    return [SignIn(at=e.at, method=str(e.details.get("method", "")), succeeded=e.outcome == "success",
                   reason=e.details.get("reason"), ip_address=e.ip_address, device=describe(e.user_agent))
            for e in events]
