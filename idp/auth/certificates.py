"""Sign-in with a digital-signature certificate: from a verified challenge to an account.

:mod:`idp.signatures.challenge` says whether the citizen's signed challenge and certificate
path are good and which national identifier the certificate names. This module decides what
that means for an account, in this order:

1. a refused signature or certificate is a failed sign-in (audited with its reason, counted
   against the account by :mod:`idp.auth.lockout` when the certificate names one);
2. the identifier is mapped to its account; none is ``no_account``. A browser already signed in
   as someone else gets ``identifier_mismatch``: the certificate belongs to another person;
3. the account's throttle and administrator lock apply exactly as for a password;
4. the certificate is remembered (:class:`~idp.auth.models.CertificateCredential`, with its
   last use), and a qualified certificate (ETSI EN 319 412-5 QcCompliance) raises an account
   to level 2 (identity verified), audited as ``account.level_raised``.

``amr`` (RFC 8176 §2) says what happened and nothing more: ``hwk`` when the certificate says
its key is on a token or qualified signature creation device (QcSSCD, or a hardware certificate
policy), else ``swk``; ``pin`` only when the device must have verified the holder's PIN to sign
(QcSSCD, :func:`idp.signatures.identity.device_verifies_activation`), never from a policy OID
alone. ``mfa`` is added by the token code when two categories remain.

``acr``: a signature pasted into the page can be relayed by a phishing page (it proves the key,
not which browser asked), so that sign-in is not phishing-resistant and reaches ``substantial``
at most. Only the signer's own post of an origin-bound statement
(:mod:`idp.auth.certificate_views`) counts as phishing-resistant (``origin_bound``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from idp.audit.log import record
from idp.auth import lockout
from idp.auth.models import CertificateCredential
from idp.citizens.models import LEVEL_VERIFIED, Citizen, NationalIdentifier
from idp.db import db
from idp.db.types import utcnow
from idp.signatures.challenge import IDENTIFIER_MISMATCH, ChallengeOutcome
from idp.signatures.identity import (
    AMR_HARDWARE,
    AMR_SOFTWARE,
    NationalId,
    device_verifies_activation,
    is_qualified,
)
from idp.signatures.validation import Failure

log = logging.getLogger(__name__)

METHOD = "certificate"
NO_ACCOUNT = "no_account"
LOCKED, WAIT, DISABLED = "locked", "wait", "disabled"


@dataclass(frozen=True)
class CertificateAttempt:
    """The result of a certificate sign-in: ``outcome`` ``ok``, ``refused`` (``failure`` says
    why), ``locked`` / ``wait`` (throttle, ``wait_seconds``) or ``disabled`` (admin lock)."""

    outcome: str
    citizen: Citizen | None = None
    amr: tuple[str, ...] = ()
    failure: Failure | None = None
    wait_seconds: int = 0
    level_raised: bool = False
    origin_bound: bool = False


def amr_for(outcome: ChallengeOutcome) -> list[str]:
    """RFC 8176 methods for a verified certificate signature (see the module docstring)."""
    methods = [AMR_HARDWARE if outcome.amr == AMR_HARDWARE else AMR_SOFTWARE]
    if outcome.certificate is not None and device_verifies_activation(outcome.certificate):
        methods.append("pin")
    return methods


def find_account(identifier: NationalId) -> Citizen | None:
    return db.session.scalar(
        select(Citizen).join(NationalIdentifier)
        .where(NationalIdentifier.scheme == identifier.scheme, NationalIdentifier.value == identifier.value))


def _lockout_key(citizen: Citizen | None, identifier: NationalId | None) -> str | None:
    if citizen is not None:
        return lockout.account_key(citizen.id, "")
    if identifier is not None:
        # The same key as typing that number on the password form when no account has it.
        return lockout.account_key(None, identifier.value)
    return None


def _refuse(failure: Failure, citizen: Citizen | None, identifier: NationalId | None, *,
            count: bool = True) -> CertificateAttempt:
    key = _lockout_key(citizen, identifier) if count else None
    status = lockout.record_failure(key) if key else None
    record("signin", actor="citizen", outcome="failure", citizen_id=citizen.id if citizen else None,
           details={"method": METHOD, "reason": failure.code})
    db.session.commit()
    log.info("certificate sign-in refused: %s (citizen %s)", failure.code, citizen.id if citizen else "-")
    if status is not None and lockout.policy().is_lock(status):
        return CertificateAttempt(LOCKED, wait_seconds=lockout.wait_seconds(status))
    return CertificateAttempt("refused", citizen=citizen, failure=failure)


def sign_in_with_certificate(outcome: ChallengeOutcome,
                             signed_in_citizen_id: int | None) -> CertificateAttempt:
    """Decide a certificate sign-in from the verified challenge (commits)."""
    identifier = outcome.identifier
    citizen = find_account(identifier) if identifier is not None else None
    if not outcome.ok:
        return _refuse(outcome.failures[0], citizen, identifier)
    if signed_in_citizen_id is not None and (citizen is None or citizen.id != signed_in_citizen_id):
        # Not counted against either account: the signer proved who they are, just not here.
        return _refuse(Failure(IDENTIFIER_MISMATCH, "The certificate belongs to someone else."),
                       None, None, count=False)
    if citizen is None:
        return _refuse(Failure(NO_ACCOUNT, "No account has the certificate's identifier."), None, identifier)

    key = _lockout_key(citizen, identifier)
    status = lockout.status(key)
    if lockout.is_blocked(status):
        outcome_name = LOCKED if lockout.policy().is_lock(status) else WAIT
        _refuse(Failure(outcome_name, outcome_name), citizen, None, count=False)
        return CertificateAttempt(outcome_name, wait_seconds=lockout.wait_seconds(status))
    if citizen.locked_until is not None and citizen.locked_until > utcnow():
        _refuse(Failure(DISABLED, DISABLED), citizen, None, count=False)
        return CertificateAttempt(DISABLED)

    lockout.reset(key)
    remember_certificate(citizen, outcome.certificate)
    raised = raise_level(citizen, outcome.certificate)
    db.session.commit()
    return CertificateAttempt("ok", citizen=citizen, amr=tuple(amr_for(outcome)), level_raised=raised,
                              origin_bound=outcome.origin_bound)


def remember_certificate(citizen: Citizen, certificate: x509.Certificate) -> CertificateCredential:
    """The citizen's certificate credential, created at first use; ``last_used_at`` is now."""
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    credential = db.session.scalar(select(CertificateCredential).where(
        CertificateCredential.fingerprint_sha256 == fingerprint))
    if credential is None:
        credential = CertificateCredential(
            citizen_id=citizen.id, fingerprint_sha256=fingerprint,
            subject=certificate.subject.rfc4514_string()[:1000],
            issuer=certificate.issuer.rfc4514_string()[:1000],
            serial_number=format(certificate.serial_number, "x")[:80],
            not_after=certificate.not_valid_after_utc)
        db.session.add(credential)
    credential.citizen_id = citizen.id
    credential.last_used_at = utcnow()
    return credential


def raise_level(citizen: Citizen, certificate: x509.Certificate) -> bool:
    """Level 2 for an account whose own qualified certificate has just been verified.

    Called only after the path was validated and the certificate's identifier matched this
    account. An accredited CA checked the person's identity documents in person before issuing
    a qualified certificate, which is what level 2 stands for.
    """
    if citizen.level >= LEVEL_VERIFIED or not is_qualified(certificate):
        return False
    previous, citizen.level = citizen.level, LEVEL_VERIFIED
    record("account.level_raised", actor="citizen", citizen_id=citizen.id,
           details={"from": previous, "to": LEVEL_VERIFIED, "evidence": "qualified_certificate",
                    "certificate_sha256": certificate.fingerprint(hashes.SHA256()).hex(),
                    "issuer": certificate.issuer.rfc4514_string()[:300]})
    log.info("account level raised to %d by a qualified certificate (citizen %s)", LEVEL_VERIFIED, citizen.id)
    return True
