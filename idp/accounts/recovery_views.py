"""Account recovery pages (blueprint ``recovery``): ``/recover`` asks for the national number
and a verified contact, ``/recover/code`` for the code received and the new password.

The request is kept in the browser's session, so the code works only in the browser that asked
for it. Every answer of ``/recover`` is the same page whether or not an account matched.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext

from idp.accounts import recovery
from idp.accounts.forms import RecoveryCodeForm, RecoveryRequestForm
from idp.accounts.services import AccountProblem
from idp.auth.sessions import end_all_sessions
from idp.citizens import messages
from idp.db import db

bp = Blueprint("recovery", __name__, url_prefix="/recover")

#: The browser session's pending request: its id and the contact as typed (shown back).
PENDING_KEY = "recovery"


@bp.route("", methods=["GET", "POST"])
def start():
    form = RecoveryRequestForm()
    if not recovery.available():  # the feature is off here: the page says so (and 404 to a POST)
        return render_template("accounts/recover.html", form=form, available=False), (
            404 if request.method == "POST" else 200)
    if request.method == "GET":
        return render_template("accounts/recover.html", form=form, available=True)
    if form.validate_on_submit():
        try:
            reset = recovery.request_reset(form.identifier.data, form.contact.data)
        except AccountProblem as problem:
            db.session.rollback()
            form[problem.field].errors.append(problem.message)
        except recovery.TooManyRequests:
            db.session.rollback()
            return render_template("accounts/recover.html", form=form, available=True,
                                   failure=str(messages.RECOVERY_TOO_MANY)), 429
        else:
            db.session.commit()
            session[PENDING_KEY] = {"id": reset.id, "contact": form.contact.data.strip()[:320]}
            return redirect(url_for("recovery.enter_code"), 303)
    return render_template("accounts/recover.html", form=form, available=True), 422


@bp.route("/code", methods=["GET", "POST"])
def enter_code():
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or "id" not in pending:
        return redirect(url_for("recovery.start"), 303)
    form = RecoveryCodeForm()
    page = {"form": form, "contact": pending.get("contact", "")}
    if request.method == "GET":
        return render_template("accounts/recover_code.html", **page)
    if form.validate_on_submit():
        try:
            recovered = recovery.complete_reset(pending["id"], form.code.data, form.password.data)
        except recovery.ResetProblem as problem:
            form[problem.field].errors.append(problem.message)
        except AccountProblem as problem:
            db.session.rollback()
            form[problem.field].errors.append(problem.message)
        else:
            citizen_id = recovered.citizen.id
            db.session.commit()
            end_all_sessions(citizen_id, "password_reset")
            session.pop(PENDING_KEY, None)
            flash(gettext("Your password was changed and every session of your account was signed out. "
                          "Sign in with the new password; your second factor is still asked for."),
                  "success")
            return redirect(url_for("auth.login"), 303)
    return render_template("accounts/recover_code.html", **page), 422
