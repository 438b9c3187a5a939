"""Certificate sign-in: one-time challenges and checking the citizen's signed response.

The flow the sign-in page drives (the form of Vietnamese and Russian signing plugins):

1. :func:`issue_challenge` gives a random challenge bound to the browser session, valid for
   two minutes, stored (as digests) in the database so any node can check it;
2. the citizen's signer returns a detached CMS signature over the challenge's UTF-8 bytes
   (RFC 5652), or a compact JWS whose payload is the challenge and whose header carries ``x5c``;
3. :func:`verify_challenge_response` uses the challenge up (single use, whatever the outcome),
   verifies the signature and the certificate path now, and gives back the certificate, the
   citizen's national identifier and the RFC 8176 ``amr`` value (``hwk`` or ``swk``), or the
   reasons for refusing.

Origin-bound statements. A signature over the bare challenge proves the key, not which browser
asked for it: a phishing page can fetch a challenge from this server, show it to the citizen and
relay what they paste. The citizen's signer can instead sign :func:`origin_statement`, the
challenge followed by the origin the citizen's *browser* reported (the ``Origin`` header of
the form the page posted to the signer on the loopback address), and post it here itself
(:func:`store_direct_response`); the browser that asked then completes the sign-in in its own
session. A phishing page's form carries the phishing origin, which the signer refuses and
which would not match this server's (:func:`verify_challenge_response` with ``origin``).

Mapping the identifier to an account, starting the session and raising the account's level
belong to the sign-in views that call these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography import x509
from flask import current_app
from sqlalchemy import and_, delete, select, update

from idp.db import db
from idp.db.types import utcnow
from idp.signatures.cms import verify_cms
from idp.signatures.identity import NationalId, key_storage_amr
from idp.signatures.jws import looks_like_jws, verify_jws
from idp.signatures.models import SignatureChallenge
from idp.signatures.validation import Failure, SignaturePolicy, validate_signer

CHALLENGE_TTL = timedelta(minutes=2)
PREFIX = "idp-signin"
MAX_RESPONSE_BYTES = 512 * 1024

UNKNOWN_CHALLENGE = "unknown_challenge"
CHALLENGE_EXPIRED = "challenge_expired"
CHALLENGE_REPLAYED = "challenge_replayed"
WRONG_SESSION = "wrong_session"
CHALLENGE_MISMATCH = "challenge_mismatch"
NO_IDENTIFIER = "no_identifier"
IDENTIFIER_MISMATCH = "identifier_mismatch"

MESSAGES = {
    UNKNOWN_CHALLENGE: "This challenge was not issued by this server.",
    CHALLENGE_EXPIRED: "The challenge expired; sign the new one.",
    CHALLENGE_REPLAYED: "The challenge was already used; sign the new one.",
    WRONG_SESSION: "The challenge was issued to another browser session.",
    CHALLENGE_MISMATCH: "The signed text is not the challenge.",
    NO_IDENTIFIER: "The certificate carries no personal identification number.",
    IDENTIFIER_MISMATCH: "The certificate belongs to someone else.",
}


@dataclass
class ChallengeOutcome:
    """The verdict on a signed challenge; ``reason`` is the first failure's code."""

    failures: list[Failure] = field(default_factory=list)
    certificate: x509.Certificate | None = None
    identifier: NationalId | None = None
    name: str | None = None
    amr: str | None = None
    #: The signature was over :func:`origin_statement` for this server's origin.
    origin_bound: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str | None:
        return self.failures[0].code if self.failures else None

    @property
    def message(self) -> str | None:
        return self.failures[0].message if self.failures else None

    def fail(self, code: str) -> ChallengeOutcome:
        self.failures.append(Failure(code, MESSAGES[code]))
        return self


def origin_statement(challenge: str, origin: str) -> str:
    """What the signer signs in the origin-bound flow: the challenge and the browser's origin.

    The signer builds the same text (clients/signer/idp_signer.py ``ORIGIN_STATEMENT``)."""
    return f"{challenge}\norigin={origin}"


def origin_of(url: str) -> str:
    """RFC 6454 §6.2 serialisation of a URL's origin (scheme://host[:port], lowercase)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def store_direct_response(challenge: str, response: str) -> str | None:
    """Keep the signer's own post of a signed origin statement for its challenge (commits).

    Only a live, unused challenge that has no response yet takes one: the first post wins, so
    nobody can swap in another signature. Nothing is verified here; the browser that holds the
    challenge's session verifies it when it continues (:func:`take_direct_response`). Returns
    None or the reason (``unknown_challenge``, ``challenge_expired``, ``challenge_replayed``).
    """
    if not challenge or len(challenge) > 512 or not response or len(response) > MAX_RESPONSE_BYTES:
        return UNKNOWN_CHALLENGE
    now = utcnow()
    digest = _digest(challenge)
    changed = db.session.execute(
        update(SignatureChallenge)
        .where(and_(SignatureChallenge.challenge_digest == digest,
                    SignatureChallenge.used_at.is_(None),
                    SignatureChallenge.direct_response.is_(None),
                    SignatureChallenge.expires_at > now))
        .values(direct_response=response)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed == 1:
        return None
    row = db.session.scalar(select(SignatureChallenge).where(SignatureChallenge.challenge_digest == digest))
    if row is None:
        return UNKNOWN_CHALLENGE
    if row.used_at is not None or row.direct_response is not None:
        return CHALLENGE_REPLAYED
    return CHALLENGE_EXPIRED


def direct_response(challenge: str) -> str | None:
    """The signed statement the signer posted for ``challenge``, if any (nothing is used up)."""
    if not challenge or len(challenge) > 512:
        return None
    return db.session.scalar(select(SignatureChallenge.direct_response)
                             .where(SignatureChallenge.challenge_digest == _digest(challenge)))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def current_policy() -> SignaturePolicy:
    return SignaturePolicy.from_settings(current_app.config["IDP"])


def issue_challenge(browser_session_id: str) -> str:
    """A new challenge for this browser session (commits). Expired challenges are swept here."""
    if not browser_session_id:
        raise ValueError("a browser session id is required to bind the challenge")
    now = utcnow()
    challenge = f"{PREFIX} {current_app.config['IDP'].issuer} {secrets.token_urlsafe(32)}"
    db.session.execute(delete(SignatureChallenge).where(SignatureChallenge.expires_at < now))
    db.session.add(SignatureChallenge(challenge_digest=_digest(challenge),
                                      binding_digest=_digest(browser_session_id),
                                      created_at=now, expires_at=now + CHALLENGE_TTL))
    db.session.commit()
    return challenge


def _consume(browser_session_id: str, challenge: str) -> str | None:
    """Use the challenge up atomically (commits); None on success, else the reason it cannot be.

    One conditional UPDATE: of two nodes racing with the same response only one sees a row
    change, so a challenge is accepted at most once. A challenge offered from another browser
    session is not used up, so an attacker cannot burn the citizen's challenge.
    """
    now = utcnow()
    digest, binding = _digest(challenge), _digest(browser_session_id)
    changed = db.session.execute(
        update(SignatureChallenge)
        .where(and_(SignatureChallenge.challenge_digest == digest,
                    SignatureChallenge.binding_digest == binding,
                    SignatureChallenge.used_at.is_(None),
                    SignatureChallenge.expires_at > now))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed == 1:
        return None
    row = db.session.scalar(select(SignatureChallenge).where(SignatureChallenge.challenge_digest == digest))
    if row is None:
        return UNKNOWN_CHALLENGE
    if not hmac.compare_digest(row.binding_digest, binding):
        return WRONG_SESSION
    if row.used_at is not None:
        return CHALLENGE_REPLAYED
    return CHALLENGE_EXPIRED


def verify_challenge_response(browser_session_id: str, challenge: str, response: str | bytes, *,
                              expected_identifier: NationalId | None = None,
                              policy: SignaturePolicy | None = None,
                              origin: str | None = None) -> ChallengeOutcome:
    """Check a signed challenge: detached CMS over the challenge, or a JWS whose payload it is.

    ``expected_identifier``: when the citizen is already known (step-up, or they typed their
    number first), the certificate must name that same identifier. ``origin``: the signature
    must be over :func:`origin_statement` for this origin (the signer's direct post), and the
    outcome is then ``origin_bound``.
    """
    outcome = ChallengeOutcome()
    if not browser_session_id or not challenge or len(challenge) > 512:
        return outcome.fail(UNKNOWN_CHALLENGE)
    problem = _consume(browser_session_id, challenge)
    if problem is not None:
        return outcome.fail(problem)
    if isinstance(response, str):
        response = response.encode("utf-8", "replace")
    if len(response) > MAX_RESPONSE_BYTES:
        outcome.failures.append(Failure("malformed", "The signed response is too large."))
        return outcome

    statement = (origin_statement(challenge, origin) if origin is not None else challenge).encode("utf-8")
    if looks_like_jws(response):
        signed = verify_jws(response)
        if signed.ok and not hmac.compare_digest(signed.payload or b"", statement):
            return outcome.fail(CHALLENGE_MISMATCH)
    else:
        signed = verify_cms(response, statement)
    outcome.failures.extend(signed.failures)
    if signed.signer is None:
        return outcome

    policy = policy or current_policy()
    # The same validation as a signed document's; the signature cannot be older than the
    # challenge it signs, so its claimed signing time must fall within the challenge's life.
    now = utcnow()
    report = validate_signer(signed.signer, signed.certificates, policy,
                             signing_time=signed.signing_time, now=now,
                             not_before=now - CHALLENGE_TTL)
    outcome.certificate, outcome.identifier, outcome.name = signed.signer, report.identifier, report.name
    outcome.failures.extend(report.failures)
    if report.identifier is None:
        outcome.fail(NO_IDENTIFIER)
    elif expected_identifier is not None and report.identifier != expected_identifier:
        outcome.fail(IDENTIFIER_MISMATCH)
    if outcome.ok:
        outcome.amr = key_storage_amr(signed.signer, policy.hardware_policies)
        outcome.origin_bound = origin is not None
    return outcome
