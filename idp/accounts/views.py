"""The citizen's account pages (blueprint ``account``, under ``/account``).

Profile (from the registry, only contacts editable), active sessions with sign-out,
consents with revoke, sign-in history, password change. Every page needs a live SSO session;
without one the browser is sent to sign in and brought back.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext

from idp.accounts import consents, history, services
from idp.accounts.devices import describe
from idp.accounts.forms import ContactsForm, PasswordChangeForm
from idp.accounts.identifiers import get_scheme
from idp.accounts.models import Citizen
from idp.audit.log import record
from idp.auth import lockout
from idp.auth.sessions import (
    current_session,
    end_all_sessions,
    end_session,
    joined_services,
    sessions_of,
)
from idp.auth.views import _refusal as refusal
from idp.db import db
from idp.oidc.session_tokens import end_citizen_tokens

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


def _profile_page(form: ContactsForm, status: int = 200):
    citizen = g.citizen
    held = services.national_identifier(citizen)
    scheme = services.scheme() if held is None else get_scheme(held.scheme)
    return render_template(
        "accounts/profile.html", citizen=citizen, entry=services.registry_entry(citizen),
        identifier=scheme.display(held.value) if held else None, form=form), status


@bp.get("")
def profile():
    citizen = g.citizen
    return _profile_page(ContactsForm(email=citizen.email, phone=citizen.phone))


@bp.post("/contacts")
def contacts():
    form = ContactsForm()
    if form.validate_on_submit():
        try:
            asked = services.update_contacts(g.citizen, form.email.data, form.phone.data)
        except services.AccountProblem as problem:
            db.session.rollback()
            form[problem.field].errors.append(problem.message)
        else:
            db.session.commit()
            if asked:  # the same words whether or not an address was already another account's
                flash(gettext("Your contact details were saved. An email address or phone number "
                              "already linked to another account is not added to yours."), "success")
            return redirect(url_for("account.profile"), 303)
    return _profile_page(form, 422)


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
