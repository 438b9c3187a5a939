"""The sign-in and sign-out pages (blueprint ``auth``).

``GET/POST /login`` takes ``next`` (a path on this server; anything else is ignored) and
``login_hint`` (prefills the sign-in name). ``POST /signout`` ends this browser's SSO session.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, session
from flask_babel import gettext, ngettext

from idp.audit.log import record
from idp.auth import sign_in_pages
from idp.auth.forms import LoginForm
from idp.auth.sessions import current_session, end_session
from idp.auth.signin import begin_sign_in, check_password, safe_next
from idp.db.autocommit import statements_commit_alone

bp = Blueprint("auth", __name__)

#: Registration stores the new account's number here so the sign-in form is prefilled
#: without putting it in a URL (URLs end up in logs).
LOGIN_HINT_KEY = "idp_login_hint"


def _duration(seconds: int) -> str:
    if seconds >= 120:
        minutes = (seconds + 59) // 60
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    return ngettext("%(num)d second", "%(num)d seconds", seconds)


def _refusal(outcome: str, wait_seconds: int) -> tuple[str, int]:
    """The message and HTTP status for a sign-in (or a password check on the password-change
    form) that did not succeed."""
    if outcome == "locked":
        return gettext("This account is locked after too many failed sign-in attempts. "
                       "Try again in %(duration)s.", duration=_duration(wait_seconds)), 429
    if outcome == "wait":
        return gettext("Too many failed attempts. Wait %(duration)s before trying again.",
                       duration=_duration(wait_seconds)), 429
    if outcome == "disabled":
        return gettext("This account has been locked by an administrator. "
                       "Contact the help desk to unlock it."), 403
    message = gettext("The identification number, email, phone or password is wrong.")
    if wait_seconds:
        message += " " + gettext("Wait %(duration)s before trying again.", duration=_duration(wait_seconds))
    return message, 422


def sign_in_page(next_url: str | None, hint: str | None = None, *, here: str | None = None) -> str:
    """The password sign-in page, whose form posts to ``/login?next=<next_url>``.

    ``hint`` prefills the sign-in name (else the number registration left in the session).
    ``here`` is the address the language switcher comes back to when it is not the page's own:
    the authorization endpoint shows this page in its answer, and its address (a request that
    may be single-use) is not the one to reload.
    """
    return sign_in_pages.page(next_url, here, hint or session.pop(LOGIN_HINT_KEY, None))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Password sign-in (RFC 9700 §4.11: ``next`` is never an open redirect)."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return sign_in_page(next_url, request.args.get("login_hint"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form, next_url=next_url), 422
    # On PostgreSQL the sign-in runs in autocommit until something needs a transaction: the
    # account is read, the session stored and the code's writes sent (one statement each, see
    # idp.oidc.views.authorize._issue_code) without BEGIN and COMMIT around them, and no
    # transaction stays open while the password is hashed. A refusal's audit event
    # (idp.audit.log.record), a step-up or a rotated session take a transaction again.
    statements_commit_alone()
    attempt = check_password(form.username.data, form.password.data)
    if attempt.outcome == "ok":
        return begin_sign_in(attempt.citizen, ["pwd"], next_url, second_factor=attempt.second_factor)
    message, status = _refusal(attempt.outcome, attempt.wait_seconds)
    response = render_template("auth/login.html", form=form, next_url=next_url, failure=message)
    headers = {"Retry-After": str(attempt.wait_seconds)} if status == 429 else {}
    return response, status, headers


@bp.post("/signout")
def logout():
    """End this browser's SSO session (CSRF-protected like every form)."""
    sso = current_session()
    if sso is not None:
        record("signout", actor="citizen", citizen_id=sso.citizen_id, details={"reason": "logout"})
        end_session(sso, "logout")
    return render_template("auth/signed_out.html")
