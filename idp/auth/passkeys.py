"""Passkeys: W3C Web Authentication Level 2 registration (§7.1) and assertion (§7.2), verified
by py_webauthn.

The relying party ID is the issuer's host (§5.1.2 ``rp.id``) and the only accepted origin is the
issuer's scheme, host and port (§7.1 step 9, §7.2 step 13); both come from ``IDP_ISSUER``. The
challenge lives in the signed Flask session for :data:`CHALLENGE_TTL` seconds and is used once.
Attestation is ``none``: we trust the key, not a device model. A signature counter that does not
grow when the authenticator keeps one is refused (§6.1.1, a cloned authenticator); py_webauthn
raises on it, and we keep the new value.

A passkey is recorded with ``amr`` ``swk`` (RFC 8176: proof of possession of a software-secured
key; platform and synced passkeys are not attested hardware). After the password it is the
second factor: the sign-in reaches ``substantial``, ``high`` on a verified account.

A passkey registered with user verification (the device checked the citizen's PIN or biometrics,
flag UV) may also sign in on its own, as a phishing-resistant first factor: the assertion must
then carry UV again and is recorded as ``swk`` + ``user`` (the device's verification of the
person; ``idp.auth.assurance`` counts ``user`` in the inherence category), two categories.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from urllib.parse import urlsplit

import webauthn
from flask import current_app, session
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import clock
from idp.auth.models import WebAuthnCredential
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow

CHALLENGE_KEY = "idp_webauthn_challenge"
CHALLENGE_TTL = 300
MAX_CREDENTIAL_JSON = 16_000


class PasskeyError(Exception):
    """A registration or assertion that does not verify."""


def rp_id() -> str:
    return urlsplit(current_app.config["IDP"].issuer).hostname


def origin() -> str:
    parts = urlsplit(current_app.config["IDP"].issuer)
    return f"{parts.scheme}://{parts.netloc}"


def of(citizen_id: int) -> list[WebAuthnCredential]:
    return list(db.session.scalars(select(WebAuthnCredential).where(
        WebAuthnCredential.citizen_id == citizen_id).order_by(WebAuthnCredential.id)))


def _remember(purpose: str, challenge: bytes, citizen_id: int) -> None:
    session[CHALLENGE_KEY] = {"purpose": purpose, "challenge": bytes_to_base64url(challenge),
                              "citizen_id": citizen_id, "at": int(clock.time())}


def _take(purpose: str, citizen_id: int) -> bytes:
    data = session.pop(CHALLENGE_KEY, None)
    if (not isinstance(data, dict) or data.get("purpose") != purpose
            or data.get("citizen_id") != citizen_id
            or int(clock.time()) - int(data.get("at", 0)) > CHALLENGE_TTL):
        raise PasskeyError("no challenge")
    return webauthn.base64url_to_bytes(data["challenge"])


def _user_handle(citizen: Citizen) -> bytes:
    """A stable opaque user handle (§14.6.1: no personal data): a digest of the row id under
    the secret key."""
    key = current_app.config["SECRET_KEY"].encode()
    return hashlib.sha256(key + b"webauthn-user" + str(citizen.id).encode()).digest()[:32]


def registration_options(citizen: Citizen) -> str:
    """§5.4 ``PublicKeyCredentialCreationOptions`` as JSON, for ``navigator.credentials.create``."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id(), rp_name=current_app.config["IDP"].issuer, user_name=citizen.full_name,
        user_display_name=citizen.full_name, user_id=_user_handle(citizen),
        challenge=secrets.token_bytes(32),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c.credential_id) for c in of(citizen.id)],
    )
    _remember("register", options.challenge, citizen.id)
    return webauthn.options_to_json(options)


def register(citizen: Citizen, credential_json: str, name: str) -> WebAuthnCredential:
    """§7.1: verify the new credential (challenge, origin, rp id hash, user presence)."""
    challenge = _take("register", citizen.id)
    if len(credential_json or "") > MAX_CREDENTIAL_JSON:
        raise PasskeyError("too large")
    try:
        verified = webauthn.verify_registration_response(
            credential=credential_json, expected_challenge=challenge, expected_rp_id=rp_id(),
            expected_origin=origin())
        transports = json.loads(credential_json).get("response", {}).get("transports") or []
    except (InvalidRegistrationResponse, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PasskeyError(str(exc)) from None
    exists = db.session.scalar(select(WebAuthnCredential.id).where(
        WebAuthnCredential.credential_id == verified.credential_id))
    if exists is not None:
        raise PasskeyError("already registered")
    row = WebAuthnCredential(citizen_id=citizen.id, credential_id=verified.credential_id,
                             public_key=verified.credential_public_key,
                             sign_count=verified.sign_count, name=(name or "").strip()[:100] or "Passkey",
                             user_verified=verified.user_verified,
                             transports=[str(t) for t in transports][:10])
    db.session.add(row)
    return row


def assertion_options(citizen_id: int) -> str:
    """§5.5 ``PublicKeyCredentialRequestOptions`` for this citizen's passkeys."""
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(), challenge=secrets.token_bytes(32),
        allow_credentials=[PublicKeyCredentialDescriptor(id=c.credential_id) for c in of(citizen_id)],
        user_verification=UserVerificationRequirement.PREFERRED)
    _remember("assert", options.challenge, citizen_id)
    return webauthn.options_to_json(options)


def _verify_assertion(challenge: bytes, credential_json: str, *, citizen_id: int | None,
                      require_user_verification: bool) -> WebAuthnCredential:
    """§7.2 for one assertion: parse it, find the passkey (the citizen's own when
    ``citizen_id`` is given), check challenge, rp id, origin, signature and counter, and
    record the new counter. Raises PasskeyError."""
    if len(credential_json or "") > MAX_CREDENTIAL_JSON:
        raise PasskeyError("too large")
    try:
        parsed = parse_authentication_credential_json(credential_json)
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PasskeyError(str(exc)) from None
    query = select(WebAuthnCredential).where(WebAuthnCredential.credential_id == parsed.raw_id)
    if citizen_id is not None:
        query = query.where(WebAuthnCredential.citizen_id == citizen_id)
    row = db.session.scalar(query)
    if row is None or (require_user_verification and not row.user_verified):
        raise PasskeyError("unknown credential or not allowed as a first factor")
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id(),
            expected_origin=origin(), credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=require_user_verification)
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError(str(exc)) from None
    row.sign_count = verified.new_sign_count
    row.last_used_at = utcnow()
    return row


def authenticate(citizen_id: int, credential_json: str) -> list[str]:
    """A passkey as the second factor of ``citizen_id``; returns the ``amr`` methods."""
    _verify_assertion(_take("assert", citizen_id), credential_json, citizen_id=citizen_id,
                      require_user_verification=False)
    return ["swk"]


def sign_in_options() -> str:
    """Options for signing in with a passkey alone: no account named (the authenticator offers
    its discoverable credentials for this rp id), user verification required (§5.8.6)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(), challenge=secrets.token_bytes(32),
        user_verification=UserVerificationRequirement.REQUIRED)
    _remember("signin", options.challenge, 0)
    return webauthn.options_to_json(options)


def sign_in(credential_json: str) -> tuple[int, list[str]]:
    """A passkey alone, user verification required: the citizen whose passkey signed, and the
    ``amr`` methods."""
    row = _verify_assertion(_take("signin", 0), credential_json, citizen_id=None,
                            require_user_verification=True)
    return row.citizen_id, ["swk", "user"]


def remove(citizen_id: int, credential_pk: int) -> bool:
    row = db.session.get(WebAuthnCredential, credential_pk)
    if row is None or row.citizen_id != citizen_id:
        return False
    db.session.delete(row)
    return True
