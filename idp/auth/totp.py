"""Authenticator apps (TOTP, RFC 6238) and recovery codes: enrolment, verification, storage.

TOTP follows what every authenticator app understands: 6 digits, 30 s steps, HMAC-SHA-1
(RFC 6238 §1.2's default; Google Authenticator ignores other algorithms), a 160-bit secret
(RFC 4226 §4 R6). The secret is encrypted at rest (:func:`idp.keys.service.seal`). A code is
accepted within one step of clock drift either side (RFC 6238 §5.2) and only once: the accepted
step is stored and no step at or before it is accepted again.

Recovery codes are ten random codes shown once; only an HMAC-SHA-256 of each is stored, under a
key derived from ``IDP_SECRET_KEY``, so a database dump alone does not allow an offline guess.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets

import pyotp
import qrcode
import qrcode.image.svg
from flask import current_app
from sqlalchemy import delete, select, update

from idp import clock
from idp.auth.models import RecoveryCode, TotpCredential
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from idp.keys.service import seal, unseal

DIGITS = 6
INTERVAL = 30
#: Steps of clock drift accepted either side of now (RFC 6238 §5.2 recommends one).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_PURPOSE = "totp-secret"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are copied by hand


def _clock() -> float:
    """Now, in seconds (:mod:`idp.clock`)."""
    return clock.time()


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226 §4 R6)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, citizen: Citizen) -> str:
    """The ``otpauth://`` URI authenticator apps scan (Key Uri Format): issuer and an account
    label without personal data (the citizen's own name, never the national number)."""
    issuer = current_app.config["IDP"].issuer.split("://", 1)[1].split("/")[0]
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=citizen.given_name or "citizen", issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no external service sees the secret)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=4)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg"):]


def _seal(secret: str, citizen_id: int) -> bytes:
    return seal(secret.encode(), purpose=_PURPOSE, context=str(citizen_id))


def _secret(credential: TotpCredential) -> str:
    return unseal(credential.secret_encrypted, purpose=_PURPOSE, context=str(credential.citizen_id)).decode()


def confirmed(citizen_id: int) -> TotpCredential | None:
    return db.session.scalar(select(TotpCredential).where(
        TotpCredential.citizen_id == citizen_id, TotpCredential.confirmed_at.is_not(None)))


def _step_matching(secret: str, code: str, now: float, after: int | None) -> int | None:
    """The time step within drift whose code is ``code`` and that is later than ``after``."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = int(now) // INTERVAL
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate in constant time; don't stop early.
        if hmac.compare_digest(totp.generate_otp(step), code) and (after is None or step > after):
            found = step
    return found


def enrol(citizen: Citizen, secret: str, code: str, now: float | None = None) -> bool:
    """Finish enrolment: only a valid code for ``secret`` stores it (replacing an older app)."""
    step = _step_matching(secret, _clean(code), _clock() if now is None else now, None)
    if step is None:
        return False
    db.session.execute(delete(TotpCredential).where(TotpCredential.citizen_id == citizen.id))
    db.session.add(TotpCredential(citizen_id=citizen.id, secret_encrypted=_seal(secret, citizen.id),
                                  confirmed_at=utcnow(), last_used_step=step))
    return True


def verify(citizen_id: int, code: str, now: float | None = None) -> bool:
    """RFC 6238 §5.2: a code within one step of drift, never one already used (or older).

    The step is recorded with a conditional UPDATE, so two nodes racing with the same code
    cannot both accept it.
    """
    credential = confirmed(citizen_id)
    if credential is None:
        return False
    step = _step_matching(_secret(credential), _clean(code), _clock() if now is None else now,
                          credential.last_used_step)
    if step is None:
        return False
    previous = credential.last_used_step
    condition = (TotpCredential.last_used_step.is_(None) if previous is None
                 else TotpCredential.last_used_step == previous)
    result = db.session.execute(update(TotpCredential)
                                .where(TotpCredential.id == credential.id, condition)
                                .values(last_used_step=step))
    db.session.expire(credential)
    return result.rowcount == 1


def remove(citizen_id: int) -> None:
    db.session.execute(delete(TotpCredential).where(TotpCredential.citizen_id == citizen_id))


def _clean(code: str) -> str:
    return "".join((code or "").split())[:64]


# -- recovery codes ------------------------------------------------------------------------------


def _digest(code: str) -> str:
    key = hashlib.sha256(b"idp recovery codes v1" + current_app.config["SECRET_KEY"].encode()).digest()
    normalized = "".join(c for c in code.lower() if c.isalnum())
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(citizen_id: int) -> list[str]:
    """Ten fresh codes (50 bits each), replacing every earlier one; returned once, for display."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.citizen_id == citizen_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        db.session.add(RecoveryCode(citizen_id=citizen_id, digest=_digest(code)))
    return codes


def recovery_codes_left(citizen_id: int) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.citizen_id == citizen_id, RecoveryCode.used_at.is_(None))).all())


def use_recovery_code(citizen_id: int, code: str) -> bool:
    """Spend a recovery code: true once per code (a conditional UPDATE, safe across nodes)."""
    if not code or len(code) > 64:
        return False
    result = db.session.execute(update(RecoveryCode).where(
        RecoveryCode.citizen_id == citizen_id, RecoveryCode.digest == _digest(code),
        RecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
    return result.rowcount == 1

