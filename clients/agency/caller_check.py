""""Confirm the identity of the caller": the agency's call-centre page, an OpenID Connect CIBA
client (CIBA Core 1.0, poll mode) of idp.

It authenticates as a client of its own (``client_secret_basic``, registered for the CIBA
grant only: ``demo-agency-callcentre`` in the sandbox), since the agency's sign-in client is a
FAPI 2.0 client, which the profile keeps to the code flow. Without that client's id and secret
the page says it is unavailable.

A clerk types the caller's national identification number; the page sends a backchannel
authentication request (``POST /bc-authorize``, client_secret_basic, ``login_hint``, a
``binding_message`` the clerk reads out, so the caller checks that their phone shows the same
one), then polls the token endpoint at the ``interval`` idp gave (the page reloads itself) until
the citizen approves in their app (the ID token is validated: signature, iss, aud, exp), refuses
(``access_denied``) or lets it expire (``expired_token``).

A sample: a real call-centre system serves this page only to its signed-in staff (and with
CSRF protection); anyone who can reach it can make a citizen's phone ask for confirmation.
"""

from __future__ import annotations

import secrets
import threading
import time

import requests
from flask import Blueprint, abort, redirect, render_template_string, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

GRANT_TYPE = "urn:openid:params:grant-type:ciba"

PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Confirm the identity of the caller</title>
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}</head>
<body><h1>Confirm the identity of the caller</h1>
{% if unavailable %}
  <p id="unavailable" role="alert">This page is unavailable: no CIBA client is configured
    (RP_CIBA_CLIENT_ID, RP_CIBA_CLIENT_SECRET).</p>
{% elif check %}
  <p>Read this code to the caller: <strong id="binding">{{ check.binding_message }}</strong></p>
  <p id="result" data-state="{{ check.state }}">
  {% if check.state == "pending" %}Waiting for the caller to confirm on their phone…
  {% elif check.state == "confirmed" %}Confirmed: <strong id="who">{{ check.name }}</strong>
    (assurance <span id="acr">{{ check.acr }}</span>)
  {% elif check.state == "denied" %}The caller refused.
  {% else %}Not confirmed ({{ check.state }}).{% endif %}</p>
  <p><a href="/caller">Check another caller</a></p>
{% else %}
  {% if error %}<p role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/caller">
    <label for="national_id">Caller's national identification number</label>
    <input id="national_id" name="national_id" inputmode="numeric" autocomplete="off" required>
    <button type="submit" id="ask">Ask the caller to confirm</button>
  </form>
{% endif %}
</body></html>"""


class Check:
    def __init__(self, auth_req_id: str, interval: int, binding_message: str):
        self.auth_req_id = auth_req_id
        self.interval = interval
        self.binding_message = binding_message
        self.state = "pending"
        self.next_poll = time.time() + interval
        self.name: str | None = None
        self.acr: str | None = None


def caller_check(*, issuer: str, client_id: str | None, client_secret: str | None) -> Blueprint:
    """The blueprint, configured from idp's discovery document (fetched once). Without a client
    id and secret every page says it is unavailable (503)."""
    bp = Blueprint("caller_check", __name__)

    if not (client_id and client_secret):
        @bp.route("/caller", methods=["GET", "POST"])
        @bp.route("/caller/<key>")
        def unavailable(key: str | None = None):
            return render_template_string(PAGE, unavailable=True, check=None, refresh=None), 503

        return bp

    cache: dict = {}

    def metadata() -> dict:
        if "metadata" not in cache:
            cache["metadata"] = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        return cache["metadata"]

    def keyset(kid: str | None) -> KeySet:
        keys = cache.get("keys")
        if keys is None or (kid and not any(k.kid == kid for k in keys.keys)):
            jwks = requests.get(metadata()["jwks_uri"], timeout=10).json()
            keys = cache["keys"] = KeySet.import_key_set(jwks)
        return keys

    checks: dict[str, Check] = {}
    lock = threading.Lock()
    auth = (client_id, client_secret)

    @bp.get("/caller")
    def form():
        return render_template_string(PAGE, unavailable=False, check=None, error=None, refresh=None)

    @bp.post("/caller")
    def ask():
        binding = f"Mã cuộc gọi {secrets.randbelow(9000) + 1000}"
        data = {"scope": "openid profile", "login_hint": request.form.get("national_id", "").strip(),
                "binding_message": binding}
        answer = requests.post(metadata()["backchannel_authentication_endpoint"], auth=auth, timeout=10,
                               data=data)
        if answer.status_code != 200:
            return render_template_string(PAGE, unavailable=False, check=None, refresh=None,
                                          error=f"idp refused: {answer.json().get('error')}"), 400
        body = answer.json()
        key = secrets.token_urlsafe(16)
        with lock:
            checks[key] = Check(body["auth_req_id"], int(body.get("interval", 5)), binding)
        return redirect(f"/caller/{key}", 303)

    def poll(check: Check) -> None:
        if check.state != "pending" or time.time() < check.next_poll:
            return
        answer = requests.post(metadata()["token_endpoint"], auth=auth, timeout=10,
                               data={"grant_type": GRANT_TYPE, "auth_req_id": check.auth_req_id})
        body = answer.json()
        if answer.status_code == 200:
            claims = validate_id_token(body["id_token"])
            info = requests.get(metadata()["userinfo_endpoint"], timeout=10,
                                headers={"Authorization": f"Bearer {body['access_token']}"}).json()
            check.state, check.acr = "confirmed", claims.get("acr")
            check.name = info.get("name") or claims["sub"]
            return
        error = body.get("error")
        if error == "slow_down":
            check.interval += 5
        elif error == "access_denied":
            check.state = "denied"
        elif error != "authorization_pending":
            check.state = error or "error"
        check.next_poll = time.time() + check.interval

    def validate_id_token(token: str) -> dict:
        try:
            kid = extract_compact(token.encode()).headers().get("kid")
            claims = jwt.decode(token, keyset(kid), algorithms=["RS256", "PS256", "ES256", "EdDSA"]).claims
        except (JoseError, ValueError) as exc:
            abort(502, f"invalid ID token: {exc}")
        aud = claims.get("aud")
        if claims.get("iss") != issuer or client_id not in (aud if isinstance(aud, list) else [aud]) \
                or claims.get("exp", 0) < time.time():
            abort(502, "invalid ID token claims")
        return claims

    @bp.get("/caller/<key>")
    def status(key: str):
        with lock:
            check = checks.get(key)
            if check is None:
                abort(404)
            poll(check)
        refresh = check.interval if check.state == "pending" else None
        response = render_template_string(PAGE, unavailable=False, check=check, error=None, refresh=refresh)
        return response, 200, {"Cache-Control": "no-store"}

    return bp


