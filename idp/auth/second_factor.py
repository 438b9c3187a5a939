"""The second-factor page (``/login/second-factor``): authenticator-app code, passkey or
recovery code, after the password or to raise a live session (step-up). Also signing in with
a passkey alone (``/login/passkey``), where the passkey was made with user verification.

Two ways to arrive:

- after the password (``pending`` sign-in in the Flask session): the factor completes the
  sign-in with ``amr`` = password + factor;
- with a live SSO session that is too weak for a relying party's ``acr_values``: the
  authorization endpoint sends the citizen here with ``next`` (and the level it needs); the
  factor is added to the session (:func:`idp.auth.signin.complete_sign_in`), the password is
  not asked again.

Wrong codes count against the account like wrong passwords (:mod:`idp.auth.lockout`, its own
counter), so six digits cannot be guessed by trying.
"""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request, session
from flask_babel import gettext
from sqlalchemy import select

from idp.audit.log import record
from idp.auth import lockout, passkeys, totp
from idp.auth.assurance import ACR_HIGH, rank, resolve
from idp.auth.forms import LoginForm, OtpForm, PasskeyForm, RecoveryCodeForm
from idp.auth.models import CertificateCredential
from idp.auth.sessions import current_session
from idp.auth.signin import PENDING_KEY, complete_sign_in, has_second_factor, pending_sign_in, safe_next
from idp.auth.views import _refusal, bp
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow

STEP_UP_KEY = "idp_step_up"


def _who() -> tuple[Citizen | None, list[str], str | None]:
    """The citizen this page is for, the factors already verified, and where to go next."""
    pending = pending_sign_in()
    if pending is not None:
        return db.session.get(Citizen, pending.citizen_id), pending.amr, pending.next_url
    sso = current_session()
    if sso is not None:
        data = session.get(STEP_UP_KEY) or {}
        next_url = safe_next(data.get("next")) if data.get("sid") == sso.sid else None
        return db.session.get(Citizen, sso.citizen_id), list(sso.amr), next_url
    return None, [], None


def _page(citizen: Citizen, status: int = 200, *, otp_form=None, recovery_form=None, failure=None):
    sso = current_session()
    needed = session.get(STEP_UP_KEY, {}).get("acr") if sso else None
    has_totp = totp.confirmed(citizen.id) is not None
    # A certificate adds its factors to a live session (step-up); during a first sign-in the
    # password is not a session yet, so the certificate page would start over without it.
    certificate_next = _who()[2] if sso is not None and _has_certificate(citizen) else None
    return render_template(
        "auth/second_factor.html", otp_form=otp_form or OtpForm(),
        recovery_form=recovery_form or RecoveryCodeForm(), passkey_form=PasskeyForm(),
        has_totp=has_totp, has_passkeys=bool(passkeys.of(citizen.id)),
        recovery_left=totp.recovery_codes_left(citizen.id),
        offer_certificate=sso is not None and _has_certificate(citizen),
        certificate_next=certificate_next,
        needs_high=needed == ACR_HIGH, failure=failure), status


def _has_certificate(citizen: Citizen) -> bool:
    """Whether the citizen has signed in with a signature certificate before (a known key)."""
    return db.session.scalar(
        select(CertificateCredential.id).where(CertificateCredential.citizen_id == citizen.id).limit(1)
    ) is not None


def _expired():
    return render_template("error.html", code=400, title=gettext("Sign in again"),
                           message=gettext("Your sign-in took too long. Sign in again.")), 400


def _key(citizen: Citizen) -> str:
    return "mfa:" + lockout.account_key(citizen.id, "")


def _blocked(citizen: Citizen):
    status = lockout.status(_key(citizen))
    if lockout.is_blocked(status):
        seconds = lockout.wait_seconds(status)
        message = gettext("Too many wrong codes. Wait %(num)d seconds before trying again.", num=seconds)
        return message, seconds
    return None, 0


def _failed(citizen: Citizen, method: str):
    lockout.record_failure(_key(citizen))
    record("signin", actor="citizen", outcome="failure", citizen_id=citizen.id,
           details={"method": method, "reason": "bad_second_factor"})
    db.session.commit()


def _succeed(citizen: Citizen, amr_before: list[str], method_amr: list[str], next_url,
             name: str | None = None):
    """Complete the sign-in or the step-up. The history names what was given, in order:
    "pwd+otp" after the password, just "otp" on a step-up (``name`` overrides the method's
    ``amr`` there: "recovery_code")."""
    lockout.reset(_key(citizen))
    session.pop(STEP_UP_KEY, None)
    after_password = pending_sign_in() is not None
    given = [*(amr_before if after_password else []), *([name] if name else method_amr)]
    amr = sorted(set(amr_before) | set(method_amr))
    return complete_sign_in(citizen, amr, next_url=next_url, method="+".join(dict.fromkeys(given)))


@bp.get("/login/second-factor")
def second_factor():
    """The page; ``next`` and ``acr`` come from the authorization endpoint on a step-up."""
    sso = current_session()
    if pending_sign_in() is None and sso is not None and request.args.get("next"):
        session[STEP_UP_KEY] = {"sid": sso.sid, "next": safe_next(request.args.get("next")),
                                "acr": resolve(request.args.get("acr", ""))}
    citizen, _, _ = _who()
    if citizen is None:
        return _expired()
    return _page(citizen)


@bp.post("/login/second-factor")
def second_factor_otp():
    citizen, amr, next_url = _who()
    if citizen is None:
        return _expired()
    form = OtpForm()
    if not form.validate_on_submit():
        return _page(citizen, 422, otp_form=form)
    blocked, seconds = _blocked(citizen)
    if blocked:
        return (*_page(citizen, otp_form=form, failure=blocked)[:1], 429, {"Retry-After": str(seconds)})
    if not totp.verify(citizen.id, form.otp.data):
        db.session.rollback()
        _failed(citizen, "otp")
        form.otp.errors.append(gettext("This code is wrong or was already used. Wait for the next one."))
        return _page(citizen, 422, otp_form=form)
    return _succeed(citizen, amr, ["otp"], next_url)


@bp.post("/login/second-factor/recovery")
def second_factor_recovery():
    """A recovery code stands in for the app (``amr`` ``otp``: it is a one-time password), and
    the history says it was a recovery code so the citizen can notice misuse."""
    citizen, amr, next_url = _who()
    if citizen is None:
        return _expired()
    form = RecoveryCodeForm()
    if not form.validate_on_submit():
        return _page(citizen, 422, recovery_form=form)
    blocked, seconds = _blocked(citizen)
    if blocked:
        return (*_page(citizen, recovery_form=form, failure=blocked)[:1], 429, {"Retry-After": str(seconds)})
    if not totp.use_recovery_code(citizen.id, form.recovery_code.data):
        db.session.rollback()
        _failed(citizen, "recovery_code")
        form.recovery_code.errors.append(gettext("This recovery code is wrong or was already used."))
        return _page(citizen, 422, recovery_form=form)
    return _succeed(citizen, amr, ["otp"], next_url, "recovery_code")


@bp.post("/login/second-factor/passkey/options")
def second_factor_passkey_options():
    citizen, _, _ = _who()
    if citizen is None or not passkeys.of(citizen.id):
        return jsonify(error="no_passkey"), 400
    response = current_app.response_class(passkeys.assertion_options(citizen.id),
                                          mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/login/second-factor/passkey")
def second_factor_passkey():
    citizen, amr, next_url = _who()
    if citizen is None:
        return _expired()
    form = PasskeyForm()
    blocked, seconds = _blocked(citizen)
    if blocked:
        return (*_page(citizen, failure=blocked)[:1], 429, {"Retry-After": str(seconds)})
    try:
        if not form.validate_on_submit():
            raise passkeys.PasskeyError("no credential")
        methods = passkeys.authenticate(citizen.id, form.credential.data)
    except passkeys.PasskeyError:
        db.session.rollback()
        _failed(citizen, "swk")
        return _page(citizen, 422, failure=gettext("The passkey could not be verified. Try again."))
    return _succeed(citizen, amr, methods, next_url)


def step_up_url(next_url: str, acr: str) -> str:
    """Where the authorization endpoint sends a citizen whose session is too weak."""
    from urllib.parse import urlencode

    return "/login/second-factor?" + urlencode({"next": next_url, "acr": acr})


def can_reach(citizen: Citizen, acr: str) -> bool:
    """Whether this account has the factors ``acr`` needs (see :mod:`idp.auth.assurance`)."""
    if rank(acr) <= 0:
        return True
    if rank(acr) == 1:
        return has_second_factor(citizen.id)
    return citizen.level >= 2 and (bool(passkeys.of(citizen.id)) or _has_certificate(citizen))


# -- a passkey as the first (and phishing-resistant) factor ------------------------------------


@bp.post("/login/passkey/options")
def passkey_sign_in_options():
    response = current_app.response_class(passkeys.sign_in_options(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login/passkey", methods=["GET", "POST"])
def passkey_sign_in():
    """Sign in with a passkey alone (registered with user verification): ``swk`` + ``user``,
    two categories, so ``substantial`` at once and ``high`` on a verified account."""
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        return render_template("auth/passkey_login.html", next_url=next_url)
    form = PasskeyForm()
    try:
        if not form.validate_on_submit():
            raise passkeys.PasskeyError("no credential")
        citizen_id, amr = passkeys.sign_in(form.credential.data)
    except passkeys.PasskeyError:
        db.session.rollback()
        record("signin", actor="citizen", outcome="failure",
               details={"method": "swk", "reason": "bad_passkey"})
        db.session.commit()
        return render_template("auth/passkey_login.html", next_url=next_url,
                               failure=gettext("The passkey could not be verified. Try again.")), 422
    citizen = db.session.get(Citizen, citizen_id)
    if citizen.locked_until is not None and citizen.locked_until > utcnow():
        db.session.rollback()
        message, status = _refusal("disabled", 0)
        page = render_template("auth/login.html", form=LoginForm(), next_url=next_url, failure=message)
        return page, status
    session.pop(PENDING_KEY, None)
    return complete_sign_in(citizen, amr, next_url=next_url)
