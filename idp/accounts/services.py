"""Citizen accounts: finding one by what a person types, creating one from the registry.

Views, the admin command and the demo loader all go through these functions, so every account
is created with the same checks. Callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from idp.accounts import contact_verification, notices
from idp.audit.log import record
from idp.auth.models import PasswordCredential
from idp.auth.password import hash_password, policy_problem, verify_password
from idp.auth.sessions import end_all_sessions
from idp.citizens import messages, registry
from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.lookup import find_citizen, scheme
from idp.citizens.models import (
    LEVEL_SELF_REGISTERED,
    LEVEL_VERIFIED,
    Citizen,
    ContactClaim,
    NationalIdentifier,
    RegistryEntry,
)
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import InvalidIdentifier, get_scheme
from idp.oidc.tokens.ending import end_citizen_tokens


class AccountProblem(Exception):
    """A request about an account that cannot be done; ``field`` is the form field to blame."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def national_identifier(citizen: Citizen) -> NationalIdentifier | None:
    """The citizen's identifier in the configured scheme (else any one they hold)."""
    preferred = [i for i in citizen.identifiers if i.scheme == scheme().name]
    return (preferred or citizen.identifiers or [None])[0]


def registry_entry(citizen: Citizen) -> RegistryEntry | None:
    held = national_identifier(citizen)
    return registry.lookup(held.scheme, held.value) if held else None


@dataclass(frozen=True)
class Contacts:
    email: str | None
    phone: str | None


def check_contacts(email_raw: str | None, phone_raw: str | None, *, citizen_id: int | None = None,
                   required: bool = True, unique: bool = True) -> Contacts:
    """Normalised, well-formed contacts not used by another account. Raises AccountProblem."""
    email = phone = None
    if email_raw and email_raw.strip():
        email = normalise_email(email_raw)
        if email is None:
            raise AccountProblem("email", str(messages.EMAIL_INVALID))
    if phone_raw and phone_raw.strip():
        phone = normalise_phone(phone_raw, scheme())
        if phone is None:
            raise AccountProblem("phone", str(messages.PHONE_INVALID))
    if required and not email and not phone:
        raise AccountProblem("email", str(messages.CONTACT_REQUIRED))
    if not unique:
        return Contacts(email, phone)
    if email and db.session.scalar(select(Citizen.id).where(
            Citizen.email == email, Citizen.id != (citizen_id or 0))):
        raise AccountProblem("email", str(messages.EMAIL_TAKEN))
    if phone and db.session.scalar(select(Citizen.id).where(
            Citizen.phone == phone, Citizen.id != (citizen_id or 0))):
        raise AccountProblem("phone", str(messages.PHONE_TAKEN))
    return Contacts(email, phone)


def check_password_policy(password: str, *, personal: tuple[str | None, ...] = ()) -> None:
    problem = policy_problem(password, personal=tuple(v for v in personal if v))
    if problem:
        min_length = current_app.config["IDP"].password_min_length
        raise AccountProblem("password", messages.password_message(problem, min_length))


def create_citizen_from_registry(entry: RegistryEntry, password: str | None, *,
                                 email: str | None = None, phone: str | None = None,
                                 level: int = LEVEL_SELF_REGISTERED,
                                 actor: str = "citizen") -> Citizen:
    """A new account for a registry person, with a password (the admin CLI calls this too).

    Personal data are copied from the registry, never from what was typed. ``email`` and
    ``phone`` are given by an administrator (who checked them at the counter) or by the
    registry: they are stored as verified, after a check of format and uniqueness; the
    registry's own contacts are used when none is given. A citizen's self-typed contacts go
    through :mod:`idp.accounts.contact_verification` instead. ``password`` is checked against
    the policy. Without a password (``idp citizens import``) the account has no password
    credential: it cannot sign in with a password until one is set. Raises AccountProblem.
    """
    exists = db.session.scalar(select(NationalIdentifier.id).where(
        NationalIdentifier.scheme == entry.scheme, NationalIdentifier.value == entry.identifier))
    if exists is not None:
        raise AccountProblem("identifier", str(messages.ACCOUNT_EXISTS))
    contacts = check_contacts(email or entry.email, phone or entry.phone, required=False)
    if password is not None:
        check_password_policy(password, personal=(entry.identifier, contacts.email, contacts.phone))
    names = get_scheme(entry.scheme).split_name(entry.full_name)
    citizen = Citizen(
        full_name=entry.full_name, family_name=names["family"], middle_name=names["middle"],
        given_name=names["given"], birthdate=entry.birthdate, gender=entry.gender,
        email=contacts.email, email_verified=contacts.email is not None,
        phone=contacts.phone, phone_verified=contacts.phone is not None, level=level,
    )
    citizen.identifiers.append(NationalIdentifier(scheme=entry.scheme, value=entry.identifier))
    db.session.add(citizen)
    db.session.flush()
    if password is not None:
        db.session.add(PasswordCredential(citizen_id=citizen.id, hash=hash_password(password)))
    record("citizen.create", actor=actor, citizen_id=citizen.id,
           details={"level": level, "scheme": entry.scheme})
    return citizen


def register(*, identifier: str, full_name: str, birthdate: date, email: str | None,
             phone: str | None, password: str) -> Citizen:
    """Self-registration: the typed details must match the population registry.

    Checks that need nothing from the registry come first and may say exactly what is wrong;
    the registry comparison then gives one answer whatever differs, so it reveals nothing
    about the entry behind a number. The account is level 1 (not verified in person).
    """
    current = scheme()
    try:
        value = current.parse(identifier)
    except InvalidIdentifier as exc:
        raise AccountProblem("identifier", messages.identifier_message(exc.part)) from None
    problems = current.contradictions(value, birthdate=birthdate)
    if problems:
        raise AccountProblem("identifier", messages.identifier_message(problems[0]))
    # Uniqueness is checked only after the registry match, so strangers cannot probe it.
    contacts = check_contacts(email, phone, unique=False)
    check_password_policy(password, personal=(value, contacts.email, contacts.phone))
    entry = registry.match(current.name, value, full_name, birthdate)
    if entry is None:
        raise AccountProblem("identifier", str(messages.REGISTRY_MISMATCH))
    problems = current.contradictions(value, gender=entry.gender)
    if problems:
        raise AccountProblem("identifier", messages.identifier_message(problems[0]))
    citizen = create_citizen_from_registry(entry, password)
    # Typed contacts are the citizen's word only: they are claimed, and a code is sent to each
    # where the deployment can send one (else the account page offers to send it later).
    for kind, value in (("email", contacts.email), ("phone", contacts.phone)):
        if value is None:
            continue
        try:
            contact_verification.claim(citizen, kind, value)
        except contact_verification.ContactProblem:
            db.session.add(ContactClaim(citizen_id=citizen.id, kind=kind, value=value, attempts=0))
    return citizen


def change_password(citizen: Citizen, current: str, new: str) -> None:
    """Replace the citizen's password after checking the current one (audited either way).
    Every token relying parties hold for the account ends (:func:`_end_tokens`).

    Raises AccountProblem naming ``current_password`` or ``password``. The caller commits and
    signs the other sessions out.
    """
    credential = db.session.scalar(select(PasswordCredential).where(
        PasswordCredential.citizen_id == citizen.id))
    if not verify_password(credential.hash if credential else None, current):
        record("password.change", actor="citizen", outcome="failure", citizen_id=citizen.id,
               details={"reason": "bad_password"})
        db.session.commit()
        raise AccountProblem("current_password", str(messages.CURRENT_PASSWORD_WRONG))
    _store_password(citizen, new, credential)
    record("password.change", actor="citizen", citizen_id=citizen.id)
    notices.notify(citizen, "password_changed")
    _end_tokens(citizen, "password_changed")


def store_password(citizen: Citizen, password: str) -> None:
    """Give the account ``password`` under the policy (account recovery) and end every token of
    the account. Raises AccountProblem. The caller commits and ends the account's sessions."""
    _store_password(citizen, password, db.session.scalar(select(PasswordCredential).where(
        PasswordCredential.citizen_id == citizen.id)))
    _end_tokens(citizen, "password_reset")


def _store_password(citizen: Citizen, password: str, credential: PasswordCredential | None) -> None:
    """Check ``password`` against the policy (with the account's own identifier, email and
    phone as forbidden words) and store its hash, in ``credential`` or a new one. Raises
    AccountProblem naming ``password``."""
    held = national_identifier(citizen)
    check_password_policy(password, personal=(held.value if held else None, citizen.email, citizen.phone))
    if credential is None:
        db.session.add(PasswordCredential(citizen_id=citizen.id, hash=hash_password(password)))
    else:
        credential.hash = hash_password(password)
        credential.changed_at = utcnow()


def _end_tokens(citizen: Citizen, reason: str) -> None:
    """End every token family and live access token of the account, for every client
    (RFC 9700 §4.14; ASVS 3.3): whoever held the old password, or the account an administrator
    stops, keeps nothing that works. In the caller's transaction."""
    end_citizen_tokens(citizen.id, reason)


# -- administration (``idp citizens``) -----------------------------------------------------------


def set_password(citizen: Citizen, password: str, *, actor: str) -> bool:
    """Give the account this password, replacing any it had: for accounts imported without one
    (``idp citizens import``) and for a citizen who proved who they are at a counter. The same
    policy as every other password; every token of the account ends. Returns whether it
    replaced one. Audited; the caller commits and ends the account's sessions.
    """
    credential = db.session.scalar(select(PasswordCredential).where(
        PasswordCredential.citizen_id == citizen.id))
    _store_password(citizen, password, credential)
    replaced = credential is not None
    record("password.set", actor=actor, citizen_id=citizen.id, details={"replaced": replaced})
    if replaced:
        notices.notify(citizen, "password_changed")
    _end_tokens(citizen, "password_set")
    return replaced

#: An admin lock has no natural end: it lasts until ``unlock``.
ADMIN_LOCK_YEARS = 100


#: The fact given to :func:`enroll` that a part of the number contradicts.
_CONTRADICTED_FACT = {"century": "birthdate", "birth_year": "birthdate", "gender": "gender"}


def enroll(*, identifier: str, full_name: str, birthdate: date, gender: str, email: str | None,
           phone: str | None, level: int, password: str | None, actor: str) -> Citizen:
    """An account created by an administrator for a person of the population registry.

    Unlike self-registration the answer may say exactly what differs: the admin is trusted and
    reads the registry anyway. Raises AccountProblem. The caller commits.
    """
    current = scheme()
    try:
        value = current.parse(identifier)
    except InvalidIdentifier as exc:
        raise AccountProblem("identifier", messages.identifier_message(exc.part)) from None
    # The number's own digits first (century, sex, year of birth): a typo in it or in the
    # facts is named by its digit, not reported as a number missing from the registry.
    problems = current.contradictions(value, birthdate=birthdate, gender=gender)
    if problems:
        raise AccountProblem(_CONTRADICTED_FACT[problems[0]],
                             " ".join(messages.identifier_message(part) for part in problems))
    entry = registry.lookup(current.name, value)
    if entry is None:
        raise AccountProblem("identifier", "no population registry entry has this number "
                                           "(load it first with: idp registry import FILE.csv)")
    if not registry.same_name(full_name, entry.full_name):
        raise AccountProblem("full_name", "the full name differs from the population registry")
    if entry.birthdate != birthdate:
        raise AccountProblem("birthdate", "the birth date differs from the population registry")
    if entry.gender != gender:
        raise AccountProblem("gender", "the gender differs from the population registry")
    if level not in (LEVEL_SELF_REGISTERED, LEVEL_VERIFIED):
        raise AccountProblem("level", "the level must be 1 or 2")
    return create_citizen_from_registry(entry, password, email=email, phone=phone, level=level,
                                        actor=actor)


def lock(citizen: Citizen, reason: str, *, actor: str) -> int:
    """Lock an account by decision of an administrator: sign-in is refused with a page saying
    so, every session ends now (back-channel logout follows through ``session_ended``), and
    so does every token relying parties hold for it (:func:`_end_tokens`).
    Returns how many sessions ended. Commits."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise AccountProblem("reason", "give a reason of at most 500 characters")
    citizen.locked_until = utcnow() + timedelta(days=365 * ADMIN_LOCK_YEARS)
    citizen.lock_reason = reason
    record("citizen.locked", actor=actor, citizen_id=citizen.id, details={"reason": reason})
    _end_tokens(citizen, "admin_lock")
    db.session.commit()
    return end_all_sessions(citizen.id, "admin_lock")


def unlock(citizen: Citizen, *, actor: str) -> None:
    """Lift an administrator's lock. The caller commits."""
    was_locked = citizen.locked_until is not None
    citizen.locked_until = None
    citizen.lock_reason = None
    record("citizen.unlocked", actor=actor, citizen_id=citizen.id, details={"was_locked": was_locked})


def set_level(citizen: Citizen, level: int, reason: str, *, actor: str) -> None:
    """Change the assurance level (2 = identity verified in person). The caller commits."""
    reason = (reason or "").strip()
    if level not in (LEVEL_SELF_REGISTERED, LEVEL_VERIFIED):
        raise AccountProblem("level", "the level must be 1 or 2")
    if not reason or len(reason) > 500:
        raise AccountProblem("reason", "give a reason of at most 500 characters")
    old, citizen.level = citizen.level, level
    record("citizen.level", actor=actor, citizen_id=citizen.id,
           details={"from": old, "to": level, "reason": reason})


def find_for_admin(reference: str) -> Citizen | None:
    """The citizen an administrator names: national number, email, phone or account uid."""
    citizen = find_citizen(reference)
    if citizen is None and reference and len(reference) <= 64:
        citizen = db.session.scalar(select(Citizen).where(Citizen.uid == reference.strip()))
    return citizen
