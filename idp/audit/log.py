"""Writing and verifying the hash-chained audit log.

Each event's hash covers its own content and the previous event's hash, so changing,
deleting or reordering any row breaks every hash after it. Writers serialise on the chain's
tail (a row lock on PostgreSQL, the database lock on SQLite) so two nodes never fork it.

Never put secrets or raw personal data in ``details``: the log is read by operators.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import select, text

from idp.audit.models import AuditEvent
from idp.db import db
from idp.db.types import utcnow

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "id": event.id,
        "at": event.at.isoformat(timespec="microseconds"),
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor,
        "citizen_id": event.citizen_id,
        "client_id": event.client_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def admin_actor() -> str:
    """``admin:<os user>`` for changes made through the ``idp`` command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"admin:{user}"


def record(action: str, *, actor: str = "system", outcome: str = "success",
           citizen_id: int | None = None, client_id: str | None = None,
           details: dict[str, Any] | None = None, commit: bool = False) -> AuditEvent:
    """Append an event to the chain in the current transaction (committed by the caller).

    Request context, when there is one, adds the client IP and user agent.
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time at the tail, across every node.
        session.execute(text("SELECT pg_advisory_xact_lock(7201)"))
    else:
        # Take SQLite's write lock now, so reading the tail and appending are one step.
        session.execute(text("UPDATE audit_events SET id = id WHERE id = -1"))
    tail = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    event = AuditEvent(
        id=(tail.id + 1) if tail else 1,
        at=utcnow(),
        action=action,
        outcome=outcome,
        actor=actor,
        citizen_id=citizen_id,
        client_id=client_id,
        details=details or {},
        prev_hash=tail.hash if tail else GENESIS,
    )
    if has_request_context():
        event.ip_address = request.remote_addr
        event.user_agent = (request.user_agent.string or "")[:400] or None
    event.hash = event_hash(event)
    session.add(event)
    if commit:
        session.commit()
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str


def verify_chain(batch: int = 5000) -> tuple[int, ChainProblem | None]:
    """Walk the chain in id order; return how many events were checked and the first problem.

    A changed row fails its own hash; a deleted row leaves a gap in the ids and the next row's
    ``prev_hash`` pointing at nothing; reordered rows break ``prev_hash`` links.
    """
    expected_prev, expected_id, checked = GENESIS, 1, 0
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return checked, None
        for event in rows:
            if event.id != expected_id:
                return checked, ChainProblem(event.id, f"event {expected_id} is missing")
            if event.prev_hash != expected_prev:
                return checked, ChainProblem(event.id, "does not follow the previous event")
            if event_hash(event) != event.hash:
                return checked, ChainProblem(event.id, "content was changed after it was written")
            expected_prev, expected_id = event.hash, event.id + 1
            checked += 1
            last_id = event.id
        db.session.expunge_all()

