"""The issuer's root ``/``: the start page a citizen sees when typing the service's address.

Signed out, it says what the service is and offers sign-in, registration and the help desk
(``IDP_HELP_DESK_PHONE``, ``IDP_HELP_DESK_URL``), in the negotiated language
(:func:`idp.web.select_locale`). Signed in (a live SSO session), it goes to the account.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for

from idp.auth.sessions import current_session

bp = Blueprint("home", __name__)


@bp.get("/")
def start():
    if current_session() is not None:
        return redirect(url_for("account.profile"), 303)
    settings = current_app.config["IDP"]
    return render_template("home.html", help_phone=settings.help_desk_phone,
                           help_url=settings.help_desk_url)
