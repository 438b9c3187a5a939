"""The citizen's account pages (blueprint ``account``, under ``/account``).

Profile (from the registry, only contacts editable), active sessions with sign-out,
consents with revoke, sign-in history, password change. Every page needs a live SSO session;
without one the browser is sent to sign in and brought back.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext

from idp.accounts import consents, contact_verification, history, notices, services
from idp.accounts.devices import describe
from idp.accounts.forms import (
    ContactsForm,
    NoticesForm,
    PasswordChangeForm,
    PasswordSetForm,
    VerifyContactForm,
)
from idp.accounts.joined_services import joined_services
from idp.audit.log import record
from idp.auth import lockout
from idp.auth.certificate_views import CERTIFICATE_PROOF_KEY
from idp.auth.sessions import (
    current_session,
    end_all_sessions,
    end_session,
    sessions_of,
)
from idp.auth.views import _refusal as refusal
from idp.citizens import lookup, messages
from idp.citizens.models import LEVEL_VERIFIED, Citizen
from idp.db import db
from idp.identifiers import get_scheme
from idp.oidc.tokens.ending import end_citizen_tokens
from idp.web.forms import BaseForm

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
def _require_session():
    sso = current_session()
    if sso is None:
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=target), 303)
    g.sso = sso
    g.citizen = db.session.get(Citizen, sso.citizen_id)
    return None


def _profile_page(form: ContactsForm, status: int = 200, *, verify_forms=None, failure=None):
    citizen = g.citizen
    held = services.national_identifier(citizen)
    scheme = lookup.scheme() if held is None else get_scheme(held.scheme)
    pending = contact_verification.claims_of(citizen.id)
    verify_forms = verify_forms or {}
    for kind in pending:
        verify_forms.setdefault(kind, VerifyContactForm(prefix=kind))
    return render_template(
        "accounts/profile.html", citizen=citizen, entry=services.registry_entry(citizen),
        identifier=scheme.display(held.value) if held else None, form=form, pending=pending,
        verify_forms=verify_forms, failure=failure,
        notices_form=NoticesForm(new_device=citizen.notify_new_device)), status


@bp.get("")
def profile():
    citizen = g.citizen
    pending = contact_verification.claims_of(citizen.id)
    return _profile_page(ContactsForm(
        email=pending["email"].value if "email" in pending else citizen.email,
        phone=pending["phone"].value if "phone" in pending else citizen.phone))


@bp.post("/contacts")
def contacts():
    """A changed contact is claimed and sent a code; it replaces the verified one only once the
    code is entered. The answer is the same whether or not another account uses the value."""
    form = ContactsForm()
    if not form.validate_on_submit():
        return _profile_page(form, 422)
    citizen = g.citizen
    pending = contact_verification.claims_of(citizen.id)
    typed = {"email": (form.email.data or "").strip(), "phone": (form.phone.data or "").strip()}
    wanted = {}
    for kind, raw in typed.items():
        wanted[kind] = contact_verification.normalise(kind, raw) if raw else None
        if raw and wanted[kind] is None:
            invalid = messages.EMAIL_INVALID if kind == "email" else messages.PHONE_INVALID
            form[kind].errors.append(str(invalid))
    if form.errors:
        return _profile_page(form, 422)
    if not any(wanted.values()):
        form.email.errors.append(str(messages.CONTACT_REQUIRED))
        return _profile_page(form, 422)
    sent = []
    try:
        for kind, value in wanted.items():
            verified = citizen.email if kind == "email" else citizen.phone
            claimed = pending[kind].value if kind in pending else None
            if value is None:
                if claimed is not None:
                    contact_verification.cancel(citizen, kind)
                if verified is not None:
                    contact_verification.remove_verified(citizen, kind)
            elif value == verified:
                if claimed is not None:
                    contact_verification.cancel(citizen, kind)
            elif value != claimed:
                contact_verification.claim(citizen, kind, value)
                sent.append(kind)
    except contact_verification.ContactProblem as problem:
        db.session.rollback()
        form[problem.field].errors.append(problem.message)
        return _profile_page(form, 422)
    db.session.commit()
    if sent:
        flash(gettext("We sent a code to the new contact. Enter it below to verify it."), "success")
    else:
        flash(gettext("Your contact details were saved."), "success")
    return redirect(url_for("account.profile"), 303)


@bp.post("/contacts/<any(email, phone):kind>/verify")
def verify_contact(kind: str):
    form = VerifyContactForm(prefix=kind)
    if not form.validate_on_submit():
        return _profile_page(ContactsForm(email=g.citizen.email, phone=g.citizen.phone), 422,
                             verify_forms={kind: form})
    outcome = contact_verification.confirm(g.citizen, kind, form.code.data)
    db.session.commit()
    if not outcome.verified:
        contacts_form = ContactsForm(email=g.citizen.email, phone=g.citizen.phone)
        if contact_verification.claim_of(g.citizen.id, kind) is None:  # nothing left to enter a code for
            return _profile_page(contacts_form, 422, failure=outcome.problem)
        form.code.errors.append(outcome.problem)
        return _profile_page(contacts_form, 422, verify_forms={kind: form})
    flash(gettext("Your email address is verified.") if kind == "email"
          else gettext("Your phone number is verified."), "success")
    return redirect(url_for("account.profile"), 303)


@bp.post("/contacts/<any(email, phone):kind>/resend")
def resend_code(kind: str):
    form = BaseForm()
    pending = contact_verification.claim_of(g.citizen.id, kind)
    if not form.validate_on_submit() or pending is None:
        abort(400)
    try:
        contact_verification.claim(g.citizen, kind, pending.value)
    except contact_verification.ContactProblem as problem:
        db.session.rollback()
        return _profile_page(ContactsForm(email=g.citizen.email, phone=g.citizen.phone), 422,
                             failure=problem.message)
    db.session.commit()
    flash(gettext("We sent a new code."), "success")
    return redirect(url_for("account.profile"), 303)


@bp.post("/notices")
def notice_settings():
    form = NoticesForm()
    if not form.validate_on_submit():
        abort(400)
    g.citizen.notify_new_device = bool(form.new_device.data)
    record("account.notices", actor="citizen", citizen_id=g.citizen.id,
           details={"new_device": g.citizen.notify_new_device})
    db.session.commit()
    flash(gettext("Your notice settings were saved."), "success")
    return redirect(url_for("account.profile"), 303)


@bp.get("/sessions")
def sessions():
    live = sessions_of(g.citizen.id)
    services = joined_services(live)
    rows = [(s, describe(s.user_agent), services[s.id]) for s in live]
    return render_template("accounts/sessions.html", rows=rows, current=g.sso)


@bp.post("/sessions/<int:session_id>/end")
def end_one_session(session_id: int):
    target = next((s for s in sessions_of(g.citizen.id) if s.id == session_id), None)
    if target is None:
        abort(404, gettext("This session has already ended."))
    record("signout", actor="citizen", citizen_id=g.citizen.id,
           details={"reason": "ended_from_account", "current": target.id == g.sso.id})
    end_session(target, "ended_by_citizen")
    if target.id == g.sso.id:
        return render_template("auth/signed_out.html")
    flash(gettext("That session was signed out."), "success")
    return redirect(url_for("account.sessions"), 303)


@bp.post("/sessions/end-others")
def end_other_sessions():
    record("signout", actor="citizen", citizen_id=g.citizen.id, details={"reason": "all_others"})
    # Signing out everywhere is what a citizen does who fears someone else is in: the tokens
    # relying parties hold for the account end too, whichever session issued them.
    end_citizen_tokens(g.citizen.id, "signed_out_everywhere")
    count = end_all_sessions(g.citizen.id, "ended_by_citizen", except_id=g.sso.id)
    flash(ngettext("Signed out of %(num)d other session.", "Signed out of %(num)d other sessions.", count),
          "success")
    return redirect(url_for("account.sessions"), 303)


@bp.get("/consents")
def consents_page():
    return render_template("accounts/consents.html", consents=consents.active_consents(g.citizen.id))


@bp.post("/consents/<int:consent_id>/revoke")
def revoke_consent(consent_id: int):
    if not consents.revoke_consent(g.citizen.id, consent_id):
        abort(404, gettext("This consent does not exist or was already revoked."))
    db.session.commit()
    flash(gettext("The consent was revoked. The service will have to ask you again."), "success")
    return redirect(url_for("account.consents_page"), 303)


@bp.get("/history")
def history_page():
    return render_template("accounts/history.html", sign_ins=history.sign_ins(g.citizen.id),
                           on_behalf=history.on_behalf(g.citizen.id))


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Password change: the current password is asked again; other sessions are signed out.

    The current password is a guess like any sign-in: a wrong one counts toward the account's
    lockout (:mod:`idp.auth.lockout`, NIST SP 800-63B §5.2.2), and while the account must wait or
    is locked the form checks nothing, so a stolen session cannot guess the password from many
    addresses."""
    if _recent_certificate_proof():
        return _password_after_certificate()
    form = PasswordChangeForm()
    if request.method == "GET":
        return render_template("accounts/password.html", form=form)
    if form.validate_on_submit():
        key = lockout.account_key(g.citizen.id, "")
        current = lockout.status(key)
        if lockout.is_blocked(current):
            return _password_refused(form, current, "locked" if lockout.policy().is_lock(current) else "wait")
        try:
            services.change_password(g.citizen, form.current_password.data, form.password.data)
        except services.AccountProblem as problem:
            if problem.field == "current_password":
                current = lockout.record_failure(key)
                if lockout.policy().is_lock(current):  # this failure (already audited) locks
                    return _password_refused(form, current, "locked", audit=False)
            form[problem.field].errors.append(problem.message)
        else:
            lockout.reset(key)
            db.session.commit()
            end_all_sessions(g.citizen.id, "password_changed", except_id=g.sso.id)
            flash(gettext("Your password was changed. Your other sessions were signed out."), "success")
            return redirect(url_for("account.profile"), 303)
    return render_template("accounts/password.html", form=form), 422


def _recent_certificate_proof() -> bool:
    """Account recovery by certificate: a level-2 citizen who has just proved who they are with
    their signature certificate in the origin-bound flow (which a phishing page cannot relay)
    may set a new password without the old one. The proof counts for IDP_REAUTH_MAX_AGE."""
    proof = session.get(CERTIFICATE_PROOF_KEY)
    if not isinstance(proof, dict) or proof.get("citizen_id") != g.citizen.id:
        return False
    if g.citizen.level < LEVEL_VERIFIED:
        return False
    age = time.time() - float(proof.get("at", 0))
    return 0 <= age <= current_app.config["IDP"].reauth_max_age


def _password_after_certificate():
    form = PasswordSetForm()
    if request.method == "GET":
        return render_template("accounts/password.html", form=form, by_certificate=True)
    if not form.validate_on_submit():
        return render_template("accounts/password.html", form=form, by_certificate=True), 422
    try:
        services.store_password(g.citizen, form.password.data)
    except services.AccountProblem as problem:
        db.session.rollback()
        form[problem.field].errors.append(problem.message)
        return render_template("accounts/password.html", form=form, by_certificate=True), 422
    record("password.recovered", actor="citizen", citizen_id=g.citizen.id, details={"method": "certificate"})
    notices.notify(g.citizen, "password_changed")
    session.pop(CERTIFICATE_PROOF_KEY, None)
    db.session.commit()
    end_all_sessions(g.citizen.id, "password_reset", except_id=g.sso.id)
    flash(gettext("Your password was changed. Your other sessions were signed out."), "success")
    return redirect(url_for("account.profile"), 303)


def _password_refused(form: PasswordChangeForm, current: lockout.Status, outcome: str, *, audit: bool = True):
    """The form again, with the sign-in page's words for a wait or a lock, and Retry-After."""
    wait = lockout.wait_seconds(current)
    if audit:
        record("password.change", actor="citizen", outcome="failure", citizen_id=g.citizen.id,
               details={"reason": outcome})
        db.session.commit()
    message, status = refusal(outcome, wait)
    form.current_password.errors.append(message)
    return render_template("accounts/password.html", form=form), status, {"Retry-After": str(wait)}
