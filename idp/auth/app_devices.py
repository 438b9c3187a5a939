"""The citizen's identity app: enrolment of its key, the signed messages it sends, its devices.

The app (reference implementation: ``clients/wallet``; protocol: ``docs/app-signin.md``) holds a
P-256 key that never leaves it; this server keeps only the public key (RFC 7517 JWK). Every
message the app sends is a compact JWS (RFC 7515) over a JSON object, ES256 only (RFC 7518
§3.4), with ``typ`` naming the message and these members checked here:

- ``aud``: this server's issuer (a message made for another server is refused);
- ``iat``: within :data:`MAX_SKEW` seconds of now (a stale message is refused; replay of a
  fresh one is stopped by the single-use request it answers).

Enrolment (``typ`` :data:`ENROL_TYPE`): the account page, after a recent level-2 sign-in, shows a
QR code holding a one-time link (``/app/enrol/<token>``, 10 minutes, digest stored). The app
posts a JWS whose protected header carries its public key (``jwk``) and whose payload names
the device; the signature proves it holds the private key. The link is used up atomically.

Later messages name the device with ``kid`` (the public ``device_id`` given at enrolment) and
are verified against the stored key; a removed device's messages are refused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import select, update

from idp.audit.log import record
from idp.auth.app_models import AppDevice, AppEnrolment
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow

ALGORITHMS = ["ES256"]
ENROL_TYPE = "idp-app-enrol+jws"
SIGNIN_TYPE = "idp-app-signin+jws"
CIBA_TYPE = "idp-app-ciba+jws"
ENROL_TTL = timedelta(minutes=10)
#: Seconds a message's ``iat`` may differ from the server's clock.
MAX_SKEW = 120
MAX_MESSAGE = 8192
MAX_DEVICES = 10
#: Only identity-verified accounts enrol an app (the key is then bound to a verified identity).
ENROL_LEVEL = 2


class AppProtocolError(Exception):
    """A message from the app that is refused; ``code`` is the OAuth-style error code."""

    def __init__(self, code: str, description: str, status: int = 400):
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issuer() -> str:
    return current_app.config["IDP"].issuer


# -- messages --------------------------------------------------------------------------------


def _parse(message: str, typ: str) -> tuple[dict, dict]:
    """Header and payload of an unverified compact JWS, with the generic checks."""
    if not isinstance(message, str) or not message or len(message) > MAX_MESSAGE:
        raise AppProtocolError("invalid_request", "Send one signed message (compact JWS).")
    try:
        extracted = jws.extract_compact(message.strip().encode())
        header = dict(extracted.protected)
        payload = json.loads(extracted.payload)
    except (JoseError, ValueError, TypeError):
        raise AppProtocolError("invalid_request", "The message is not a compact JWS over JSON.") from None
    if header.get("alg") not in ALGORITHMS or header.get("typ") != typ or not isinstance(payload, dict):
        raise AppProtocolError("invalid_request", f"Expected an ES256 JWS of type {typ}.")
    return header, payload


def _check_claims(payload: dict) -> None:
    if payload.get("aud") != issuer():
        raise AppProtocolError("invalid_request", "The message is addressed to another server (aud).")
    iat = payload.get("iat")
    if not isinstance(iat, int) or abs(time.time() - iat) > MAX_SKEW:
        raise AppProtocolError("invalid_request", "The message is stale or its clock is wrong (iat).")


def _verify(message: str, key: ECKey) -> None:
    try:
        jws.deserialize_compact(message.strip(), key, algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        raise AppProtocolError("invalid_signature", "The signature does not verify with this device's key.",
                               401) from None


def public_key(jwk: object) -> ECKey:
    """A P-256 public key from a JWK; a private member or another curve is refused."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
        raise AppProtocolError("invalid_request", "The key must be a public P-256 JWK.")
    try:
        return ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk})
    except (JoseError, ValueError, TypeError, KeyError):
        raise AppProtocolError("invalid_request", "The key cannot be read.") from None


def verify_device_message(message: str, typ: str) -> tuple[AppDevice, dict]:
    """The enrolled device that signed ``message`` and the verified payload. A device that was
    removed (or never existed) and a signature by another key are both refused (401)."""
    header, payload = _parse(message, typ)
    kid = header.get("kid")
    device = db.session.scalar(select(AppDevice).where(AppDevice.device_id == str(kid)[:43])) \
        if isinstance(kid, str) else None
    if device is None:
        raise AppProtocolError("unknown_device", "This device is not enrolled (or was removed).", 401)
    _verify(message, public_key(device.public_jwk))
    _check_claims(payload)
    return device, payload


# -- enrolment -------------------------------------------------------------------------------


def start_enrolment(citizen: Citizen) -> str:
    """A new one-time enrolment link for ``citizen`` (caller commits)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(AppEnrolment(token_digest=_digest(token), citizen_id=citizen.id, created_at=now,
                                expires_at=now + ENROL_TTL))
    return f"{issuer()}/app/enrol/{token}"


@dataclass(frozen=True)
class Enrolled:
    device: AppDevice
    citizen_id: int


def enrol(token: str, message: str) -> Enrolled:
    """Register the key that signed ``message`` for the citizen the link was made for.

    The link is claimed atomically, so two apps racing with one link cannot both enrol; an
    unknown, used or expired link is ``invalid_grant``. Caller commits."""
    header, payload = _parse(message, ENROL_TYPE)
    key = public_key(header.get("jwk"))
    _verify(message, key)
    _check_claims(payload)
    if payload.get("enrolment") != token:
        raise AppProtocolError("invalid_request", "The message names another enrolment link.")
    name = payload.get("device_name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise AppProtocolError("invalid_request", "device_name: 1 to 100 characters.")
    row = db.session.scalar(select(AppEnrolment).where(AppEnrolment.token_digest == _digest(token[:100])))
    now = utcnow()
    if row is None or row.expires_at <= now:
        raise AppProtocolError("invalid_grant", "This enrolment link is unknown or has expired.")
    claimed = db.session.execute(
        update(AppEnrolment).where(AppEnrolment.id == row.id, AppEnrolment.used_at.is_(None))
        .values(used_at=now)).rowcount == 1
    if not claimed:
        raise AppProtocolError("invalid_grant", "This enrolment link was already used.")
    thumbprint = key.thumbprint()
    if db.session.scalar(select(AppDevice.id).where(AppDevice.thumbprint == thumbprint)):
        raise AppProtocolError("invalid_request", "This key is already enrolled.")
    if len(devices_of(row.citizen_id)) >= MAX_DEVICES:
        raise AppProtocolError("invalid_request", f"At most {MAX_DEVICES} apps per account.")
    # Hex, not base64url: an id starting with "-" would read as an option to
    # `idp citizens remove-device` (1 enrolment in 64).
    device = AppDevice(device_id=secrets.token_hex(16), citizen_id=row.citizen_id, name=name.strip(),
                       public_jwk=key.as_dict(private=False), thumbprint=thumbprint,
                       claims_hardware=payload.get("hardware_backed") is True, created_at=now)
    db.session.add(device)
    db.session.flush()
    record("app.enrolled", actor="citizen", citizen_id=row.citizen_id,
           details={"device": device.device_id, "device_name": device.name})
    return Enrolled(device, row.citizen_id)


# -- devices ---------------------------------------------------------------------------------


def devices_of(citizen_id: int) -> list[AppDevice]:
    return list(db.session.scalars(select(AppDevice).where(AppDevice.citizen_id == citizen_id)
                                   .order_by(AppDevice.id)))


def remove(citizen_id: int, device_id: str, *, actor: str) -> bool:
    """Remove one of the citizen's devices: its key signs nothing any more. Caller commits."""
    device = db.session.scalar(select(AppDevice).where(AppDevice.citizen_id == citizen_id,
                                                       AppDevice.device_id == device_id[:43]))
    if device is None:
        return False
    record("app.removed", actor=actor, citizen_id=citizen_id,
           details={"device": device.device_id, "device_name": device.name})
    db.session.delete(device)
    return True


def amr_of(device: AppDevice) -> list[str]:
    """RFC 8176 §2: ``swk`` (a software key: what the server can verify) and ``pin`` (the app's
    PIN unlocks the key). A claimed hardware key is not ``hwk``: without attestation the server
    cannot tell a secure element from a file, and ``amr`` states what was proven."""
    return ["swk", "pin"]


def mark_used(device: AppDevice) -> None:
    device.last_used_at = utcnow()


def describe(device: AppDevice) -> dict:
    return {"device_id": device.device_id, "name": device.name,
            "claims_hardware": device.claims_hardware,
            "created_at": device.created_at.isoformat(timespec="seconds"),
            "last_used_at": (device.last_used_at.isoformat(timespec="seconds")
                             if device.last_used_at else None)}


__all__ = [
    "CIBA_TYPE", "ENROL_TYPE", "SIGNIN_TYPE", "AppProtocolError", "amr_of", "describe", "devices_of",
    "enrol", "mark_used", "public_key", "remove", "start_enrolment", "verify_device_message",
]
