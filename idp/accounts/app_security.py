"""The identity app on the account pages (``/account/security``): "Add the app" shows a
one-time enrolment QR code (:func:`idp.auth.app_devices.start_enrolment`), and each enrolled
app can be removed. Like every change to how the citizen signs in, both need a recent sign-in
(:func:`idp.accounts.security.recent_sign_in`); adding an app also needs an identity-verified
(level 2) account, since the app's key is then bound to a verified identity."""

from __future__ import annotations

from flask import flash, g, jsonify, make_response, redirect, render_template, url_for
from flask_babel import gettext

from idp.accounts.security import _security_page, recent_sign_in
from idp.accounts.views import bp
from idp.auth import app_devices
from idp.auth.totp import qr_svg
from idp.db import db
from idp.web import no_store
from idp.web.forms import BaseForm


@bp.post("/security/app")
@recent_sign_in
def app_enrol():
    if not BaseForm().validate_on_submit():
        return _security_page(400)
    if g.citizen.level < app_devices.ENROL_LEVEL:
        return _security_page(403, failure=gettext(
            "Only an identity-verified account can add the app. Verify your identity at a counter first."))
    link = app_devices.start_enrolment(g.citizen)
    db.session.commit()
    response = render_template("accounts/app_enrol.html", qr=qr_svg(link),
                               minutes=int(app_devices.ENROL_TTL.total_seconds() // 60))
    return no_store(make_response(response))


@bp.post("/security/app/<device_id>/remove")
@recent_sign_in
def app_remove(device_id: str):
    if not BaseForm().validate_on_submit():
        return _security_page(400)
    if not app_devices.remove(g.citizen.id, device_id, actor="citizen"):
        return jsonify(error="not_found"), 404
    db.session.commit()
    flash(gettext("The app was removed. It can no longer sign you in."), "success")
    return redirect(url_for("account.security"), 303)
