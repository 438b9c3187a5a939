"""The account's second factors (``/account/security``): authenticator app, recovery codes,
passkeys. Routes on the ``account`` blueprint, so the same signed-in check applies.

Enrolling an app: a new secret is shown as a QR code and as text; it is kept (encrypted) in the
Flask session until the citizen types a valid code, and only then stored. The first second
factor comes with ten recovery codes, shown once; they can be regenerated (the old ones stop
working). Every change is recorded in the audit log, and needs a recent sign-in
(:func:`recent_sign_in`).
"""

from __future__ import annotations

import base64
import functools

from flask import current_app, flash, g, jsonify, redirect, render_template, session, url_for
from flask_babel import gettext

from idp.accounts import notices
from idp.accounts.views import bp
from idp.audit.log import record
from idp.auth import app_devices, passkeys, totp
from idp.auth.forms import OtpForm, PasskeyForm
from idp.db import db
from idp.db.types import utcnow
from idp.keys.service import seal, unseal
from idp.web import wants_json
from idp.web.forms import BaseForm

ENROL_KEY = "idp_totp_enrol"
_PURPOSE = "totp-enrolment"


def recent_sign_in(view):
    """Second factors change only after a recent sign-in (``IDP_REAUTH_MAX_AGE``): a stolen or
    forgotten-open session must not be enough to remove the citizen's authenticator, or to add
    the thief's own passkey or read fresh recovery codes and keep the account (NIST SP 800-63B
    §4.2.2 / OWASP ASVS V2.1: re-authentication before changing authenticators). An older
    session is sent to the sign-in page and comes back here; signing in again in this browser
    moves the session's ``auth_time`` to now (:func:`idp.auth.signin.complete_sign_in`)."""
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        age = (utcnow() - g.sso.auth_time).total_seconds()
        if age <= current_app.config["IDP"].reauth_max_age:
            return view(*args, **kwargs)
        if wants_json():  # the passkey page's script asking for options
            return jsonify(error="reauthentication_required"), 401
        flash(gettext("For your security, sign in again before changing how you sign in."), "info")
        return redirect(url_for("auth.login", next=url_for("account.security")), 303)
    return guarded


def _security_page(status: int = 200, **extra):
    citizen = g.citizen
    return render_template(
        "accounts/security.html", totp=totp.confirmed(citizen.id),
        recovery_left=totp.recovery_codes_left(citizen.id), passkeys=passkeys.of(citizen.id),
        apps=app_devices.devices_of(citizen.id),
        form=BaseForm(), passkey_form=extra.pop("passkey_form", None) or PasskeyForm(), **extra), status


def _codes_page(codes: list[str]):
    return render_template("accounts/recovery_codes.html", codes=codes)


def _first_codes_if_none():
    """The first second factor comes with recovery codes (shown once)."""
    if totp.recovery_codes_left(g.citizen.id) == 0:
        codes = totp.new_recovery_codes(g.citizen.id)
        record("mfa.recovery_codes_generated", actor="citizen", citizen_id=g.citizen.id)
        return codes
    return None


@bp.get("/security")
def security():
    return _security_page()


def _pending_secret() -> str | None:
    blob = session.get(ENROL_KEY)
    if not blob:
        return None
    try:
        return unseal(base64.b64decode(blob), purpose=_PURPOSE, context=str(g.citizen.id)).decode()
    except Exception:  # a tampered or stale value just restarts enrolment
        return None


def _enrol_page(form: OtpForm, status: int = 200):
    secret = _pending_secret()
    if secret is None:
        secret = totp.new_secret()
        sealed = seal(secret.encode(), purpose=_PURPOSE, context=str(g.citizen.id))
        session[ENROL_KEY] = base64.b64encode(sealed).decode()
    uri = totp.provisioning_uri(secret, g.citizen)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("accounts/totp.html", form=form, qr=totp.qr_svg(uri), secret=grouped,
                           uri=uri), status


@bp.get("/security/totp")
@recent_sign_in
def totp_enrol():
    return _enrol_page(OtpForm())


@bp.post("/security/totp")
@recent_sign_in
def totp_confirm():
    """Enrolment completes only with a valid code for the new secret (RFC 6238)."""
    form = OtpForm()
    secret = _pending_secret()
    if not form.validate_on_submit() or secret is None:
        return _enrol_page(form, 422)
    if not totp.enrol(g.citizen, secret, form.otp.data):
        form.otp.errors.append(gettext("This code is not right. Check the time on your phone and "
                                       "type the code the app shows now."))
        return _enrol_page(form, 422)
    session.pop(ENROL_KEY, None)
    record("mfa.totp_enrolled", actor="citizen", citizen_id=g.citizen.id)
    notices.notify(g.citizen, "second_factor_added", method="totp")
    codes = _first_codes_if_none()
    db.session.commit()
    flash(gettext("Your authenticator app is set up. You will be asked for a code when you sign in."),
          "success")
    if codes:
        return _codes_page(codes)
    return redirect(url_for("account.security"), 303)


@bp.post("/security/totp/remove")
@recent_sign_in
def totp_remove():
    if not BaseForm().validate_on_submit():
        return _security_page(400)
    totp.remove(g.citizen.id)
    record("mfa.totp_removed", actor="citizen", citizen_id=g.citizen.id)
    notices.notify(g.citizen, "second_factor_removed", method="totp")
    db.session.commit()
    flash(gettext("The authenticator app was removed."), "success")
    return redirect(url_for("account.security"), 303)


@bp.post("/security/recovery-codes")
@recent_sign_in
def recovery_codes():
    """New codes, shown once; the old ones stop working."""
    if not BaseForm().validate_on_submit():
        return _security_page(400)
    codes = totp.new_recovery_codes(g.citizen.id)
    record("mfa.recovery_codes_generated", actor="citizen", citizen_id=g.citizen.id)
    notices.notify(g.citizen, "second_factor_added", method="recovery_codes")
    db.session.commit()
    return _codes_page(codes)


@bp.post("/security/passkeys/options")
@recent_sign_in
def passkey_options():
    response = current_app.response_class(passkeys.registration_options(g.citizen),
                                          mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/security/passkeys")
@recent_sign_in
def passkey_register():
    form = PasskeyForm()
    if not form.validate_on_submit():
        return _security_page(422, failure=gettext("The passkey could not be registered. Try again."))
    try:
        passkeys.register(g.citizen, form.credential.data, form.name.data or gettext("Passkey"))
    except passkeys.PasskeyError:
        db.session.rollback()
        return _security_page(422, failure=gettext("The passkey could not be registered. Try again."))
    record("mfa.passkey_registered", actor="citizen", citizen_id=g.citizen.id)
    notices.notify(g.citizen, "second_factor_added", method="passkey")
    codes = _first_codes_if_none()
    db.session.commit()
    flash(gettext("Your passkey was registered."), "success")
    if codes:
        return _codes_page(codes)
    return redirect(url_for("account.security"), 303)


@bp.post("/security/passkeys/<int:credential_pk>/remove")
@recent_sign_in
def passkey_remove(credential_pk: int):
    if not BaseForm().validate_on_submit():
        return _security_page(400)
    if not passkeys.remove(g.citizen.id, credential_pk):
        return jsonify(error="not_found"), 404
    record("mfa.passkey_removed", actor="citizen", citizen_id=g.citizen.id)
    notices.notify(g.citizen, "second_factor_removed", method="passkey")
    db.session.commit()
    flash(gettext("The passkey was removed."), "success")
    return redirect(url_for("account.security"), 303)
