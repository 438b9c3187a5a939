"""Proving an email address or phone number with a code sent to it.

A contact typed on the account page (or at registration) becomes a
:class:`~idp.citizens.models.ContactClaim`; a 6-digit code goes to it through the outbox
(:mod:`idp.notify`), valid 10 minutes, 5 tries. Entering the code moves the value onto the
account (``Citizen.email`` / ``Citizen.phone``, verified), the only place sign-in, recovery and
notices look. What the citizen sees is the same whether or not another account uses the
address, so the form reveals nothing; proving an address that another account has proven is
refused, and that refusal is shown only to whoever received the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import get_locale
from sqlalchemy import select

from idp.accounts import one_time_codes
from idp.audit.log import record
from idp.citizens import messages
from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.models import Citizen, ContactClaim
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import get_scheme
from idp.notify import outbox

KINDS = ("email", "phone")
#: The outbox channel each kind of contact is reached on.
CHANNEL = {"email": "email", "phone": "sms"}


class ContactProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def normalise(kind: str, raw: str) -> str | None:
    if kind == "email":
        return normalise_email(raw)
    return normalise_phone(raw, get_scheme(current_app.config["IDP"].identifier_scheme))


def _purpose(claim: ContactClaim) -> str:
    return f"contact:{claim.id}:{claim.kind}:{claim.value}"


def claim_of(citizen_id: int, kind: str) -> ContactClaim | None:
    return db.session.scalar(select(ContactClaim).where(
        ContactClaim.citizen_id == citizen_id, ContactClaim.kind == kind))


def claims_of(citizen_id: int) -> dict[str, ContactClaim]:
    return {c.kind: c for c in db.session.scalars(
        select(ContactClaim).where(ContactClaim.citizen_id == citizen_id))}


def language_of(citizen: Citizen) -> str:
    return citizen.locale or str(get_locale() or "vi")


def claim(citizen: Citizen, kind: str, value: str) -> ContactClaim:
    """Record ``value`` (normalised) as the citizen's claimed ``kind`` contact and send it a
    code. Replaces an earlier claim of the same kind. Raises ContactProblem when the value is
    malformed or the deployment cannot reach such contacts; the caller commits."""
    channel = CHANNEL[kind]
    if not outbox.available(channel):
        raise ContactProblem(kind, str(messages.CONTACT_CHANNEL_OFF_EMAIL if kind == "email"
                                       else messages.CONTACT_CHANNEL_OFF_PHONE))
    current = claim_of(citizen.id, kind)
    if current is None:
        current = ContactClaim(citizen_id=citizen.id, kind=kind, value=value, attempts=0)
        db.session.add(current)
    current.value, current.attempts, current.created_at = value, 0, utcnow()
    db.session.flush()
    send_code(citizen, current)
    return current


def send_code(citizen: Citizen, pending: ContactClaim) -> None:
    """A fresh code for ``pending`` (the previous one stops working); audited without it."""
    code = one_time_codes.new_code()
    pending.code_digest = one_time_codes.digest(_purpose(pending), code)
    pending.expires_at = utcnow() + one_time_codes.CODE_TTL
    pending.attempts = 0
    outbox.queue(CHANNEL[pending.kind], pending.value, "contact_code", language=language_of(citizen),
                 citizen_id=citizen.id, code=code,
                 minutes=int(one_time_codes.CODE_TTL.total_seconds() // 60))
    record("contact.code_sent", actor="citizen", citizen_id=citizen.id, details={"kind": pending.kind})


@dataclass(frozen=True)
class Outcome:
    verified: bool
    problem: str | None = None


def confirm(citizen: Citizen, kind: str, code: str) -> Outcome:
    """Check ``code`` against the citizen's pending ``kind`` claim; on success the value becomes
    the account's verified contact. Always audited; the caller commits."""
    pending = claim_of(citizen.id, kind)
    if pending is None or pending.code_digest is None:
        return Outcome(False, str(messages.CODE_NONE_PENDING))
    if pending.expires_at is None or pending.expires_at <= utcnow():
        record("contact.verify", actor="citizen", outcome="failure", citizen_id=citizen.id,
               details={"kind": kind, "reason": "expired"})
        return Outcome(False, str(messages.CODE_EXPIRED))
    if pending.attempts >= one_time_codes.MAX_TRIES:
        record("contact.verify", actor="citizen", outcome="failure", citizen_id=citizen.id,
               details={"kind": kind, "reason": "exhausted"})
        return Outcome(False, str(messages.CODE_EXHAUSTED))
    if not one_time_codes.matches(_purpose(pending), code, pending.code_digest):
        pending.attempts += 1
        record("contact.verify", actor="citizen", outcome="failure", citizen_id=citizen.id,
               details={"kind": kind, "reason": "wrong_code", "attempts": pending.attempts})
        if pending.attempts >= one_time_codes.MAX_TRIES:
            return Outcome(False, str(messages.CODE_EXHAUSTED))
        return Outcome(False, str(messages.CODE_WRONG))
    column = Citizen.email if kind == "email" else Citizen.phone
    owner = db.session.scalar(select(Citizen.id).where(column == pending.value, Citizen.id != citizen.id))
    if owner is not None:
        db.session.delete(pending)
        record("contact.verify", actor="citizen", outcome="failure", citizen_id=citizen.id,
               details={"kind": kind, "reason": "proven_by_another_account"})
        return Outcome(False, str(messages.CONTACT_PROVEN_ELSEWHERE))
    if kind == "email":
        citizen.email, citizen.email_verified = pending.value, True
    else:
        citizen.phone, citizen.phone_verified = pending.value, True
    db.session.delete(pending)
    record("contact.verify", actor="citizen", citizen_id=citizen.id, details={"kind": kind})
    return Outcome(True)


def cancel(citizen: Citizen, kind: str) -> bool:
    pending = claim_of(citizen.id, kind)
    if pending is None:
        return False
    db.session.delete(pending)
    return True


def remove_verified(citizen: Citizen, kind: str) -> None:
    if kind == "email":
        citizen.email, citizen.email_verified = None, False
    else:
        citizen.phone, citizen.phone_verified = None, False
    record("account.contacts", actor="citizen", citizen_id=citizen.id, details={"removed": kind})
