"""A small, real OpenID Connect relying party (Flask + Authlib's Flask client), shared by the
sample apps ``clients/portal`` and ``clients/agency``.

What it shows a newcomer:

- sign-in with the code flow + PKCE, configured from discovery (``server_metadata_url``);
- who is signed in and every claim received (ID token and UserInfo);
- sign-out that ends the SSO session at idp (RP-Initiated Logout 1.0: ``id_token_hint``);
- the receiving end of OpenID Connect Back-Channel Logout 1.0 (``POST /backchannel-logout``):
  the logout token is validated against idp's JWKS with joserfc (signature, ``typ``, iss, aud,
  iat/exp, events, sid/sub, no nonce, ``jti`` not seen before) and the matching local sessions
  are dropped on the server, so the browser is signed out here even though it never came back;
- the receiving end of Front-Channel Logout 1.0 (``GET /frontchannel-logout?iss=&sid=``);
- acting for an organisation (``org_sign_in``): "Act for your organisation" asks for the scope
  ``organization`` with ``prompt=select_account``, and the page shows whose business it serves
  (the ``org`` claim: the organisation and the citizen's roles in it);
- refreshing the tokens (``POST /refresh``, RFC 6749 §6) and showing the answer, which is how
  a service learns that the citizen no longer holds the context it was serving.

Sessions live on the server (:class:`SessionStore`); the browser's cookie holds only a random
key. Several processes would need a shared store (Redis, a database table) instead.

Configuration (environment): ``RP_ISSUER``, ``RP_CLIENT_ID``, ``RP_CLIENT_SECRET``,
``RP_BASE_URL`` (this app's own address), ``RP_SECRET_KEY`` (optional). A FAPI 2.0 client
(``fapi2=True``: :mod:`fapi2_client`, PAR + private_key_jwt + DPoP) has no secret: its key is
generated at first start into ``RP_KEY_FILE`` and published at ``/jwks.json``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, jsonify, redirect, render_template_string, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
#: A logout token older than this is refused (Back-Channel Logout 1.0 §2.6 step 4: iat).
MAX_TOKEN_AGE = 600
#: Access token types (RFC 6750, RFC 9449), shown on the page.
BEARER, DPOP = "Bearer", "DPoP"


@dataclass
class LocalSession:
    sub: str
    sid: str | None
    id_token: str
    claims: dict
    userinfo: dict
    refresh_token: str | None = None
    refreshed: str | None = None
    #: The access token's type: ``DPoP`` for a FAPI 2.0 client (bound to its key), else Bearer.
    token_type: str = BEARER
    created_at: float = field(default_factory=time.time)


class SessionStore:
    """Server-side sessions by random key, findable by the IdP's ``sid`` and ``sub`` so a
    back-channel logout can drop them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict[str, LocalSession] = {}
        self._seen_jtis: dict[str, float] = {}

    def create(self, local: LocalSession) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[key] = local
        return key

    def get(self, key: str | None) -> LocalSession | None:
        with self._lock:
            return self._sessions.get(key) if key else None

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def drop_matching(self, *, sid: str | None, sub: str | None) -> int:
        """§2.6: with a ``sid``, that session; with only ``sub``, all of the user's sessions."""
        with self._lock:
            keys = [k for k, s in self._sessions.items()
                    if (sid and s.sid == sid) or (not sid and sub and s.sub == sub)]
            for key in keys:
                del self._sessions[key]
            return len(keys)

    def first_use_of(self, jti: str, exp: float) -> bool:
        """§2.6 step 8 (recommended): a logout token's ``jti`` is accepted once."""
        now = time.time()
        with self._lock:
            self._seen_jtis = {j: e for j, e in self._seen_jtis.items() if e > now}
            if jti in self._seen_jtis:
                return False
            self._seen_jtis[jti] = exp
            return True


class LogoutTokenError(ValueError):
    """The logout token is not valid; the message says why (returned with status 400)."""


PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
border-top:.5rem solid {{ colour }}}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:.25rem .5rem;text-align:left;vertical-align:top}</style></head>
<body>
<header><h1>{{ title }}</h1><p>{{ tagline }}</p></header>
<main>
{% if local %}
  <p id="status" data-signed-in="true">Signed in as
    <strong id="who">{{ local.userinfo.get("name") or local.sub }}</strong></p>
  {% set org = local.claims.get("org") %}
  {% if org %}
    <p id="serving" data-org-id="{{ org.id }}">Serving the business of
      <strong id="org-name">{{ org.name }}</strong> ({{ org.scheme }} {{ org.id }});
      your roles: <span id="org-roles">{{ org.roles | join(", ") }}</span></p>
  {% else %}
    <p id="serving" data-org-id="">Serving you personally.</p>
  {% endif %}
  <form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
    <button type="submit" id="sign-out">Sign out</button></form>
  {% if local.refresh_token %}
    <form method="post" action="/refresh"><input type="hidden" name="csrf" value="{{ csrf }}">
      <button type="submit" id="refresh">Refresh the tokens</button></form>
  {% endif %}
  <p>Access token: <code id="token-type">{{ local.token_type }}</code></p>
  {% if local.refreshed %}<p id="refresh-result">{{ local.refreshed }}</p>{% endif %}
  <h2>Claims received</h2>
  <table id="claims"><tr><th>claim</th><th>value</th><th>from</th></tr>
  {% for name, value in local.claims.items() %}
    <tr><td>{{ name }}</td><td>{{ value }}</td><td>ID token</td></tr>{% endfor %}
  {% for name, value in local.userinfo.items() %}
    <tr><td>{{ name }}</td><td>{{ value }}</td><td>UserInfo</td></tr>{% endfor %}
  </table>
{% else %}
  <p id="status" data-signed-in="false">You are signed out.</p>
  <p><a id="sign-in" href="/login">Sign in with the national electronic ID</a></p>
  {% if org_sign_in %}
    <p><a id="sign-in-org" href="/login?for=organisation">Act for your organisation</a></p>
  {% endif %}
{% endif %}
{% for name, url in links %}<p><a href="{{ url }}">{{ name }}</a></p>{% endfor %}
</main></body></html>"""


def create_rp_app(*, title: str, tagline: str, scope: str, colour: str = "#b00",
                  acr_values: str | None = None, links: list[tuple[str, str]] | None = None,
                  org_sign_in: bool = False, environ: dict | None = None, fapi2: bool = False) -> Flask:
    env = os.environ if environ is None else environ
    issuer = env["RP_ISSUER"].rstrip("/")
    client_id = env["RP_CLIENT_ID"]
    base_url = env["RP_BASE_URL"].rstrip("/")
    app = Flask(title)
    app.secret_key = env.get("RP_SECRET_KEY") or secrets.token_urlsafe(32)
    app.config.update(SESSION_COOKIE_NAME=f"rp_{client_id}", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    store = SessionStore()
    app.extensions["rp.sessions"] = store
    oauth = OAuth(app)
    idp = oauth.register(
        "idp", client_id=client_id, client_secret=None if fapi2 else env["RP_CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256", "timeout": 10})
    jwks_cache: dict[str, KeySet] = {}
    fapi = None
    if fapi2:
        from fapi2_client import Fapi2Client, load_or_create_key

        key_file = Path(env.get("RP_KEY_FILE")
                        or Path(__file__).parent / "agency" / "instance" / "client-key.json")
        fapi = Fapi2Client(issuer=issuer, client_id=client_id, key=load_or_create_key(key_file),
                           metadata=lambda: idp.load_server_metadata())

        @app.get("/jwks.json")
        def jwks():
            """The client's public key set: idp fetches it (its registered ``jwks_uri``)."""
            response = jsonify(fapi.public_jwks())
            response.headers["Cache-Control"] = "max-age=60"
            return response

    def keyset(kid: str | None) -> KeySet:
        """idp's JWKS, fetched again when a token names a key we have not seen (rotation)."""
        cached = jwks_cache.get("keys")
        if cached is None or (kid and not any(k.kid == kid for k in cached.keys)):
            url = idp.load_server_metadata()["jwks_uri"]
            cached = jwks_cache["keys"] = KeySet.import_key_set(requests.get(url, timeout=10).json())
        return cached

    def validate_logout_token(token: str) -> dict:
        """Back-Channel Logout 1.0 §2.6, step by step."""
        try:
            header = extract_compact(token.encode()).headers()
            claims = jwt.decode(token, keyset(header.get("kid")), algorithms=ALGORITHMS).claims
        except (JoseError, ValueError) as exc:
            raise LogoutTokenError(f"signature or format: {exc}") from None
        if header.get("typ") not in ("logout+jwt", "application/logout+jwt"):
            raise LogoutTokenError("typ must be logout+jwt")
        now = time.time()
        aud = claims.get("aud")
        if claims.get("iss") != issuer:
            raise LogoutTokenError("wrong iss")
        if client_id not in (aud if isinstance(aud, list) else [aud]):
            raise LogoutTokenError("wrong aud")
        if not isinstance(claims.get("iat"), int) or claims["iat"] < now - MAX_TOKEN_AGE \
                or claims["iat"] > now + 60:
            raise LogoutTokenError("iat missing or out of range")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now - 60:
            raise LogoutTokenError("expired")
        if not isinstance(claims.get("events"), dict) or EVENT not in claims["events"]:
            raise LogoutTokenError("no back-channel logout event")
        if "nonce" in claims:
            raise LogoutTokenError("a logout token must not carry a nonce")
        if not claims.get("sid") and not claims.get("sub"):
            raise LogoutTokenError("neither sid nor sub")
        if not claims.get("jti") or not store.first_use_of(claims["jti"], claims["exp"]):
            raise LogoutTokenError("jti missing or replayed")
        return claims

    def page():
        local = store.get(session.get("key"))
        if local is None:
            session.pop("key", None)
        csrf = session.setdefault("csrf", secrets.token_urlsafe(16))
        response = app.make_response(render_template_string(
            PAGE, title=title, tagline=tagline, colour=colour, local=local, csrf=csrf, links=links or [],
            org_sign_in=org_sign_in))
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def home():
        return page()

    #: The requested level and the stronger ones (idp's levels: basic < substantial < high).
    levels = ["urn:idp:acr:basic", "urn:idp:acr:substantial", "urn:idp:acr:high"]
    acceptable_acr = set(levels[levels.index(acr_values):]) if acr_values in levels else {acr_values}

    @app.get("/login")
    def login():
        if fapi is not None:
            url, session["fapi"] = fapi.authorization_url(redirect_uri=f"{base_url}/callback",
                                                          scope=scope, acr_values=acr_values)
            return redirect(url, 302)
        extra = {"acr_values": acr_values} if acr_values else {}
        if org_sign_in and request.args.get("for") == "organisation":
            # idp asks who the citizen acts as, every time (prompt=select_account).
            extra.update(scope=f"{scope} organization", prompt="select_account")
        return idp.authorize_redirect(f"{base_url}/callback", **extra)

    @app.get("/callback")
    def callback():
        if "error" in request.args:
            return render_template_string("<p>Sign-in failed: {{ e }}</p><p><a href='/'>Back</a></p>",
                                          e=request.args.get("error")), 400
        if fapi is not None:
            from fapi2_client import FapiError

            try:
                claims, userinfo, id_token = fapi.finish(request.args, session.pop("fapi", None),
                                                         redirect_uri=f"{base_url}/callback", keyset=keyset)
            except FapiError as exc:
                return render_template_string("<p>Sign-in failed: {{ e }}</p><p><a href='/'>Back</a></p>",
                                              e=str(exc)), 400
            return signed_in(claims, userinfo, id_token, token_type=DPOP)  # finish() checked it
        token = idp.authorize_access_token()  # validates the ID token: signature, iss, aud, nonce
        return signed_in(dict(token["userinfo"]), dict(idp.userinfo(token=token)), token["id_token"],
                         token.get("refresh_token"), token_type=token.get("token_type") or BEARER)

    def signed_in(claims: dict, userinfo: dict, id_token: str, refresh_token: str | None = None,
                  token_type: str = BEARER):
        if acr_values and claims.get("acr") not in acceptable_acr:
            # OIDC Core 5.5.1.1: the RP, not idp, decides whether the acr it got is enough.
            return render_template_string(
                "<p>Sign-in failed: assurance {{ got }} is below what this service needs.</p>"
                "<p><a href='/'>Back</a></p>", got=claims.get("acr") or "(none)"), 403
        key = store.create(LocalSession(sub=claims["sub"], sid=claims.get("sid"),
                                        id_token=id_token, claims=claims, userinfo=userinfo,
                                        refresh_token=refresh_token, token_type=token_type))
        session["key"] = key
        return redirect("/", 303)

    @app.post("/logout")
    def logout():
        """RP-Initiated Logout 1.0: drop our session, then end the SSO session at idp."""
        if request.form.get("csrf") != session.get("csrf"):
            abort(400)
        local = store.get(session.get("key"))
        store.drop(session.pop("key", None))
        if local is None:
            return redirect("/", 303)
        end = idp.load_server_metadata()["end_session_endpoint"]
        query = requests.Request("GET", end, params={
            "id_token_hint": local.id_token, "post_logout_redirect_uri": f"{base_url}/",
            "state": secrets.token_urlsafe(8)}).prepare().url
        return redirect(query, 303)

    @app.post("/refresh")
    def refresh():
        """RFC 6749 §6: new tokens for the refresh token, or idp's refusal, shown on the page."""
        if request.form.get("csrf") != session.get("csrf"):
            abort(400)
        local = store.get(session.get("key"))
        if local is None or not local.refresh_token:
            return redirect("/", 303)
        answer = requests.post(idp.load_server_metadata()["token_endpoint"], timeout=10,
                               data={"grant_type": "refresh_token", "refresh_token": local.refresh_token},
                               auth=(client_id, env["RP_CLIENT_SECRET"]))
        body = answer.json()
        if answer.status_code == 200:
            local.refresh_token = body.get("refresh_token", local.refresh_token)
            local.refreshed = "Refreshed: the tokens are still valid."
        else:
            local.refreshed = f"Refresh refused: {body.get('error')}"
        return redirect("/", 303)

    @app.post("/backchannel-logout")
    def backchannel_logout():
        token = request.form.get("logout_token", "")
        try:
            claims = validate_logout_token(token)
        except LogoutTokenError as exc:
            response = jsonify(error="invalid_request", error_description=str(exc))
            response.status_code = 400
        else:
            store.drop_matching(sid=claims.get("sid"), sub=claims.get("sub"))
            response = app.make_response(("", 200))
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/frontchannel-logout")
    def frontchannel_logout():
        """Front-Channel Logout 1.0 §2: loaded in an iframe of idp's logout page."""
        if request.args.get("iss") == issuer and request.args.get("sid"):
            store.drop_matching(sid=request.args["sid"], sub=None)
        response = app.make_response(("", 200))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = f"frame-ancestors {issuer}"
        return response

    return app


def serve(app: Flask, base_url: str) -> None:
    """Run on the port of ``base_url`` (werkzeug's threaded server: a sample, not production)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    app.run(host=parts.hostname, port=parts.port, threaded=True, use_reloader=False)
