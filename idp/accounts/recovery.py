"""Account recovery ("forgot password") by a code sent to a verified contact.

The citizen gives their national number and one of their verified contacts. Whether or not
the two belong to one account, the answer is the same page after the same work: a request row
is written, a code is made and its message rendered; only when they match is the message
queued. The code (6 digits, 10 minutes, 5 tries) then sets a new password under the password
policy; every session of the account ends, every refresh token dies with it, and each verified
contact is told. Second factors are untouched: recovery never lowers what sign-in asks for
(a citizen who lost both recovers with a signature certificate, or at a counter).

Limits: per client address (``IDP_RECOVERY_RATE_LIMIT``, Flask-Limiter) and per national
number (``IDP_RECOVERY_MAX_PER_HOUR`` requests, counted for numbers with and without an
account alike).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from idp.accounts import notices, one_time_codes
from idp.accounts.contact_verification import language_of, normalise
from idp.accounts.services import AccountProblem, store_password
from idp.audit.log import record
from idp.citizens import messages
from idp.citizens.models import Citizen, NationalIdentifier, PasswordReset
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import InvalidIdentifier, get_scheme
from idp.notify import outbox
from idp.notify.outbox import render

#: The outbox channel of each kind of contact.
_CHANNEL = {"email": "email", "phone": "sms"}


class TooManyRequests(Exception):
    """This national number asked for too many codes in the last hour."""


class ResetProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def available() -> bool:
    """Recovery needs at least one channel to send codes on."""
    return outbox.available("email") or outbox.available("sms")


def _key(value: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"recover\x00{value}".encode(), hashlib.sha256).hexdigest()


def _purpose(reset: PasswordReset) -> str:
    return f"reset:{reset.id}:{reset.key_digest}"


def _matching_contact(citizen: Citizen | None, contact_raw: str) -> tuple[str, str] | None:
    """(kind, value) when ``contact_raw`` is one of the citizen's verified contacts that the
    deployment can reach."""
    kind = "email" if "@" in contact_raw else "phone"
    value = normalise(kind, contact_raw)
    if citizen is None or value is None or not outbox.available(_CHANNEL[kind]):
        return None
    verified = (citizen.email if citizen.email_verified else None) if kind == "email" else (
        citizen.phone if citizen.phone_verified else None)
    return (kind, value) if verified is not None and hmac.compare_digest(verified, value) else None


def request_reset(identifier_raw: str, contact_raw: str) -> PasswordReset:
    """Start a recovery; the same work and the same result type whether or not it matched.
    Raises AccountProblem for a malformed number (that says nothing about accounts) and
    TooManyRequests. The caller commits."""
    scheme = get_scheme(current_app.config["IDP"].identifier_scheme)
    try:
        value = scheme.parse(identifier_raw)
    except InvalidIdentifier as exc:
        raise AccountProblem("identifier", messages.identifier_message(exc.part)) from None
    key = _key(value)
    since = utcnow() - timedelta(hours=1)
    recent = db.session.scalar(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.key_digest == key, PasswordReset.created_at > since))
    if recent >= current_app.config["IDP"].recovery_max_per_hour:
        raise TooManyRequests()
    citizen = db.session.scalar(select(Citizen).join(NationalIdentifier).where(
        NationalIdentifier.scheme == scheme.name, NationalIdentifier.value == value))
    target = _matching_contact(citizen, contact_raw)
    code = one_time_codes.new_code()
    now = utcnow()
    reset = PasswordReset(key_digest=key, citizen_id=citizen.id if target else None, code_digest="",
                          expires_at=now + one_time_codes.CODE_TTL, attempts=0, created_at=now)
    db.session.add(reset)
    db.session.flush()
    reset.code_digest = one_time_codes.digest(_purpose(reset), code)
    minutes = int(one_time_codes.CODE_TTL.total_seconds() // 60)
    if target is not None:
        kind, address = target
        outbox.queue(_CHANNEL[kind], address, "recovery_code", language=language_of(citizen),
                     citizen_id=citizen.id, code=code, minutes=minutes)
        record("password.recovery_requested", actor="citizen", citizen_id=citizen.id,
               details={"channel": _CHANNEL[kind]})
    else:
        # The message is rendered all the same, so both answers cost the same.
        render("recovery_code", "email", "vi", {"code": code, "minutes": minutes})
        record("password.recovery_requested", actor="citizen", outcome="failure",
               details={"reason": "no_match"})
    return reset


@dataclass(frozen=True)
class Recovered:
    citizen: Citizen


def complete_reset(reset_id: int | None, code: str, new_password: str) -> Recovered:
    """Check the code of request ``reset_id`` and set the new password. Raises ResetProblem
    (one message whether the code is wrong, expired, used up or was never sent) or
    AccountProblem (``password`` against the policy). The caller commits, then ends the
    account's sessions."""
    reset = db.session.get(PasswordReset, reset_id) if reset_id else None
    wrong = ResetProblem("code", str(messages.RESET_CODE_WRONG))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow() \
            or reset.attempts >= one_time_codes.MAX_TRIES:
        one_time_codes.matches("", code, None)  # the same work as a comparison
        raise wrong
    if not one_time_codes.matches(_purpose(reset), code, reset.code_digest) \
            or reset.citizen_id is None:
        reset.attempts += 1
        record("password.recovery", actor="citizen", outcome="failure", citizen_id=reset.citizen_id,
               details={"reason": "wrong_code", "attempts": reset.attempts})
        db.session.commit()
        raise wrong
    citizen = db.session.get(Citizen, reset.citizen_id)
    store_password(citizen, new_password)
    reset.used_at = utcnow()
    record("password.recovered", actor="citizen", citizen_id=citizen.id)
    notices.notify(citizen, "password_changed")
    return Recovered(citizen)
