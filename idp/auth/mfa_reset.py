"""Resetting a citizen's second factors, by an administrator, after the citizen proved who
they are at a counter (lost phone, lost recovery codes).

Every second factor goes: authenticator-app secrets (TOTP), recovery codes, passkeys
(WebAuthn) and enrolled identity apps (a lost phone's key, :mod:`idp.auth.app_devices`). The
password stays; the citizen enrols a new factor after signing in. A method
added later adds its rows here, so one command keeps meaning "every second factor".
"""

from __future__ import annotations

from sqlalchemy import delete

from idp.audit.log import record
from idp.auth.app_models import AppDevice
from idp.auth.models import RecoveryCode, TotpCredential, WebAuthnCredential
from idp.db import db


def reset_second_factors(citizen_id: int, *, actor: str) -> dict[str, int]:
    """Delete the citizen's second factors; returns how many of each kind went. The event
    is audited (counts only). The caller commits."""
    removed = {
        "totp": db.session.execute(
            delete(TotpCredential).where(TotpCredential.citizen_id == citizen_id)).rowcount or 0,
        "recovery_codes": db.session.execute(
            delete(RecoveryCode).where(RecoveryCode.citizen_id == citizen_id)).rowcount or 0,
        "passkeys": db.session.execute(
            delete(WebAuthnCredential).where(WebAuthnCredential.citizen_id == citizen_id)).rowcount or 0,
        "apps": db.session.execute(
            delete(AppDevice).where(AppDevice.citizen_id == citizen_id)).rowcount or 0,
    }
    record("citizen.mfa_reset", actor=actor, citizen_id=citizen_id, details={"removed": removed})
    return removed


__all__ = ["reset_second_factors"]
