"""Cross-device sign-in with the citizen's identity app (blueprint ``app_signin``).

The steps (protocol for app makers: ``docs/app-signin.md``):

1. ``GET /login/app``: the browser gets a new request (random ``request_id``, valid
   ``IDP_APP_SIGNIN_TTL`` seconds, at most 120) bound to this browser session (a random value in
   the signed session cookie; only its digest is stored), shown as a QR code holding
   ``<issuer>/app/signin/<request_id>``, and a two-digit **number**.
2. The app reads the QR code and ``GET``\\ s the link: which service asks, the browser's
   approximate network and kind of device, and three numbers to choose from.
3. The citizen picks the number their browser shows, unlocks the key with the PIN, and the
   app ``POST``\\ s a signed answer (:data:`idp.auth.app_devices.SIGNIN_TYPE`: ``request_id``,
   ``choice``, ``decision``). A wrong number ends the request.
4. The browser, which polls ``GET /login/app/<request_id>/status`` (or, without JavaScript,
   presses "Continue"), posts ``/login/app/continue``; only the browser session the request is
   bound to can use the approval, once, and the sign-in completes with ``amr`` ``swk`` +
   ``pin``.

Why the number (QR-code phishing): a QR code is only a picture. Someone can photograph the code
shown on *their own* screen and send it to a citizen ("scan to receive your benefit"); a
citizen who approved would sign the sender's browser in. The number is shown only in the
browser that displayed the code, so a citizen who did not start the sign-in at that screen
cannot know which of the three to pick; a wrong pick (or a guess) ends the request. A
real-time phishing page can still relay both the code and the number; nothing in a QR code
can tell the app which site the citizen is looking at. So this sign-in is **not**
phishing-resistant in the sense of NIST SP 800-63B §5.2.5 (unlike a passkey, whose browser
signs the origin): it reaches ``urn:idp:acr:substantial`` (two factors: the device key and the
PIN), never ``high`` (:mod:`idp.auth.assurance`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import secrets
from datetime import timedelta

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    session,
)
from flask_babel import gettext
from sqlalchemy import select, update
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from idp.audit.log import record
from idp.auth import app_devices
from idp.auth.app_devices import AppProtocolError
from idp.auth.app_models import AppEnrolment, AppSignInRequest
from idp.auth.ratelimit import _message
from idp.auth.signin import complete_sign_in, safe_next
from idp.auth.totp import qr_svg
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from idp.maintenance import PurgeRule, register_rule
from idp.web import csrf, no_store
from idp.web.forms import BaseForm

bp = Blueprint("app_signin", __name__)

BINDING_KEY = "idp_app_signin_binding"
#: After the app approves, the browser has this long to continue.
CONTINUE_WINDOW = timedelta(seconds=60)
CHOICES = 3


class ContinueForm(BaseForm):
    request_id = HiddenField(validators=[DataRequired(), Length(max=43)])


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _binding() -> str:
    value = session.get(BINDING_KEY)
    if not isinstance(value, str) or len(value) < 32:
        value = secrets.token_urlsafe(32)
        session[BINDING_KEY] = value
    return value


def approximate_network(address: str | None) -> str | None:
    """The browser's network, not its address: IPv4 /24, IPv6 /48 (shown to the citizen)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _service(next_url: str | None) -> str | None:
    """The relying party's name, when ``next`` resumes an authorization (:mod:`idp.oidc` tells)."""
    namer = current_app.extensions.get("idp.service_for_next")
    return namer(next_url) if namer and next_url else None


def _describe_user_agent(user_agent: str | None) -> str | None:
    """"Chrome · Windows", by :mod:`idp.accounts` (registered in ``app.extensions``, as the
    account pages are above this layer); the raw User-Agent without it."""
    describe = current_app.extensions.get("idp.describe_user_agent")
    return describe(user_agent) if describe else user_agent


def new_request(next_url: str | None) -> tuple[AppSignInRequest, str]:
    """Step 1: a request bound to this browser, and the link its QR code holds (committed)."""
    now = utcnow()
    number = secrets.randbelow(90) + 10
    others = random.SystemRandom().sample([n for n in range(10, 100) if n != number], CHOICES - 1)
    choices = sorted([number, *others])
    row = AppSignInRequest(
        request_id=secrets.token_urlsafe(24), binding_digest=_digest(_binding()), number=number,
        choices=choices, service=_service(next_url), next_url=next_url,
        ip_address=(request.remote_addr or "")[:64] or None,
        user_agent=(request.user_agent.string or "")[:400] or None, created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["IDP"].app_signin_ttl))
    db.session.add(row)
    db.session.commit()
    return row, f"{app_devices.issuer()}/app/signin/{row.request_id}"


def _find(request_id: str) -> AppSignInRequest | None:
    return db.session.scalar(select(AppSignInRequest).where(AppSignInRequest.request_id == request_id[:43]))


def _error(error: AppProtocolError):
    body = jsonify(error=error.code, error_description=error.description)
    return no_store(make_response(body, error.status))


# -- the browser -----------------------------------------------------------------------------


@bp.get("/login/app")
def login():
    """Step 1: the QR code and the number."""
    next_url = safe_next(request.args.get("next"))
    row, link = new_request(next_url)
    form = ContinueForm()
    form.request_id.data = row.request_id
    html = render_template("auth/app_signin.html", form=form, qr=qr_svg(link), number=row.number,
                           request_id=row.request_id, ttl=current_app.config["IDP"].app_signin_ttl,
                           next_url=next_url)
    return no_store(make_response(html))


@bp.get("/login/app/<request_id>/status")
def status(request_id: str):
    """What the waiting page polls: ``pending``, ``approved``, ``denied`` or ``expired``. Only
    the browser the request is bound to gets an answer (404 otherwise)."""
    row = _find(request_id)
    if row is None or row.binding_digest != _digest(_binding()):
        return no_store(make_response(jsonify(error="not_found"), 404))
    state = row.status
    if state in ("pending", "approved") and row.expires_at <= utcnow():
        state = "expired"
    return no_store(make_response(jsonify(status=state)))


def _refused(message: str, status_code: int):
    html = render_template("auth/app_signin_refused.html", message=message)
    return no_store(make_response(html, status_code))


@bp.post("/login/app/continue")
def continue_signin():
    """Step 4: use the app's approval in the browser it was issued to, once."""
    form = ContinueForm()
    if not form.validate_on_submit():
        return _refused(gettext("This sign-in request is not valid. Start again."), 400)
    row = _find(form.request_id.data)
    now = utcnow()
    if row is None or row.binding_digest != _digest(_binding()):
        return _refused(gettext("This QR code was shown in another browser. It can only sign in the "
                                "browser that displayed it."), 403)
    if row.status == "pending" and row.expires_at > now:
        return _refused(gettext("The app has not confirmed this sign-in yet. Scan the QR code with "
                                "your app, confirm there, then continue."), 409)
    if row.status != "approved" or row.expires_at <= now:
        return _refused(gettext("This sign-in request has expired, was refused or was already used. "
                                "Start again."), 400)
    claimed = db.session.execute(
        update(AppSignInRequest).where(AppSignInRequest.id == row.id, AppSignInRequest.status == "approved")
        .values(status="used")).rowcount == 1
    citizen = db.session.get(Citizen, row.citizen_id) if row.citizen_id else None
    if not claimed or citizen is None:
        db.session.rollback()
        return _refused(gettext("This sign-in request was already used. Start again."), 400)
    if citizen.locked_until is not None and citizen.locked_until > now:
        db.session.commit()
        return _refused(gettext("This account has been locked by an administrator. "
                                "Contact the help desk to unlock it."), 403)
    session.pop(BINDING_KEY, None)
    device = row.device_pk and db.session.get(app_devices.AppDevice, row.device_pk)
    amr = app_devices.amr_of(device) if device else ["swk", "pin"]
    return complete_sign_in(citizen, amr, next_url=safe_next(row.next_url), method="app",
                            phishing_resistant=False)


# -- the app ---------------------------------------------------------------------------------


@bp.get("/app/signin/<request_id>")
def fetch(request_id: str):
    """Step 2: what the app shows before the citizen decides."""
    row = _find(request_id)
    if row is None or row.status != "pending" or row.expires_at <= utcnow():
        return _error(AppProtocolError("expired_token", "This sign-in request is unknown, expired or used."))
    return no_store(make_response(jsonify(
        request_id=row.request_id, issuer=app_devices.issuer(), service=row.service,
        browser=_describe_user_agent(row.user_agent), network=approximate_network(row.ip_address),
        choices=list(row.choices), expires_at=int(row.expires_at.timestamp()))))


@bp.post("/app/signin/<request_id>")
@csrf.exempt  # the app posts here, not a browser: it authenticates by its signature
def answer(request_id: str):
    """Step 3: the app's signed decision. Refusals are JSON errors: ``unknown_device`` /
    ``invalid_signature`` (401), ``expired_token`` (expired, used, replayed: 400),
    ``wrong_number`` (the request is ended, 400)."""
    try:
        device, payload = app_devices.verify_device_message(request.get_data(as_text=True),
                                                            app_devices.SIGNIN_TYPE)
    except AppProtocolError as exc:
        return _error(exc)
    if payload.get("request_id") != request_id:
        return _error(AppProtocolError("invalid_request", "The message answers another request."))
    row = _find(request_id)
    now = utcnow()
    if row is None or row.status != "pending" or row.expires_at <= now:
        return _error(AppProtocolError("expired_token", "This sign-in request is unknown, expired or used."))
    decision = payload.get("decision")
    approve = decision == "approve" and payload.get("choice") == row.number
    values = {"status": "approved" if approve else "denied", "citizen_id": device.citizen_id,
              "device_pk": device.id}
    if approve:
        values["expires_at"] = min(row.expires_at, now) + CONTINUE_WINDOW
    claimed = db.session.execute(
        update(AppSignInRequest).where(AppSignInRequest.id == row.id, AppSignInRequest.status == "pending")
        .values(**values)).rowcount == 1
    if not claimed:
        db.session.rollback()
        return _error(AppProtocolError("expired_token", "This sign-in request was already answered."))
    app_devices.mark_used(device)
    reason = None if approve else ("denied" if decision == "deny" else "wrong_number")
    record("app.signin_approved" if approve else "app.signin_denied", actor="citizen",
           outcome="success" if approve else "failure", citizen_id=device.citizen_id,
           details={"device": device.device_id, "device_name": device.name, "service": row.service,
                    **({"reason": reason} if reason else {})})
    db.session.commit()
    if reason == "wrong_number":
        return _error(AppProtocolError("wrong_number", "That is not the number the browser shows. "
                                       "The request is cancelled; start again."))
    return no_store(make_response(jsonify(status="approved" if approve else "denied")))


@bp.post("/app/enrol/<token>")
@csrf.exempt  # the app posts here: the one-time link and the signature are its credentials
def enrol(token: str):
    """Enrolment (:func:`idp.auth.app_devices.enrol`)."""
    try:
        enrolled = app_devices.enrol(token, request.get_data(as_text=True))
    except AppProtocolError as exc:
        db.session.rollback()
        return _error(exc)
    db.session.commit()
    return no_store(make_response(jsonify(device_id=enrolled.device.device_id, issuer=app_devices.issuer()),
                                  201))


def register_purge(app) -> None:
    """``idp maintenance purge``: enrolment links and sign-in requests say nothing once expired
    (an unknown one is refused like an expired one)."""
    register_rule(app, PurgeRule("app_enrolments", AppEnrolment.__table__,
                                 lambda ctx: AppEnrolment.expires_at < ctx.now,
                                 description="identity-app enrolment links past expiry"))
    register_rule(app, PurgeRule("app_signin_requests", AppSignInRequest.__table__,
                                 lambda ctx: AppSignInRequest.expires_at < ctx.now,
                                 description="QR sign-in requests past expiry"))


#: The endpoints :mod:`idp.auth` limits per IP (``IDP_LOGIN_RATE_LIMIT``); ``login`` on GET too,
#: since each GET stores a request.
LIMITED_POSTS = ["app_signin.continue_signin", "app_signin.answer", "app_signin.enrol"]


def limit_requests(app) -> None:
    """Every way to create a request is limited per IP like a sign-in form post."""
    limiter = app.extensions["idp.limiter"]
    app.view_functions["app_signin.login"] = limiter.limit(
        lambda: current_app.config["IDP"].login_rate_limit, error_message=_message,
        scope="app_signin.login")(app.view_functions["app_signin.login"])
