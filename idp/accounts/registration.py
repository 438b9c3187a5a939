"""Self-registration (blueprint ``registration``, ``/register``).

Accepted only when the number, full name and birth date match the population registry; the
new account is level 1 (identity not verified in person).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext

from idp.accounts import services
from idp.accounts.forms import RegistrationForm
from idp.auth.views import LOGIN_HINT_KEY
from idp.db import db

bp = Blueprint("registration", __name__)


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegistrationForm()
    if request.method == "GET":
        return render_template("accounts/register.html", form=form)
    if form.validate_on_submit():
        try:
            services.register(identifier=form.identifier.data, full_name=form.full_name.data,
                              birthdate=form.birthdate.data, email=form.email.data,
                              phone=form.phone.data, password=form.password.data)
        except services.AccountProblem as problem:
            db.session.rollback()
            form[problem.field].errors.append(problem.message)
        else:
            db.session.commit()
            session[LOGIN_HINT_KEY] = form.identifier.data.strip()[:40]
            flash(gettext("Your account is ready. Sign in with your new password."), "success")
            return redirect(url_for("auth.login"), 303)
    return render_template("accounts/register.html", form=form), 422
