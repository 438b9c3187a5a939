"""Fixtures and helpers for the OpenID Connect tests: a citizen, relying parties, signing in
(the sign-in page is another component: the session is started directly), and a real client
library (Authlib's httpx OAuth2Client) talking to the app through WSGI."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from flask import g
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.auth.sessions import COOKIE_NAME, start_session
from idp.citizens.models import LEVEL_VERIFIED, Citizen, NationalIdentifier, RegistryEntry
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.clients.record_cache import cache_of
from idp.oidc.clients.registry import create_client

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://rp.example.gov.vn/callback"
POST_LOGOUT = "https://rp.example.gov.vn/logged-out"
ALL_SCOPES = "openid profile email phone address national_id assurance"


def make_citizen(app, pin: str = "001085000001", email: str = "an@example.vn") -> int:
    with app.app_context():
        citizen = Citizen(full_name="Nguyễn Văn An", family_name="Nguyễn", middle_name="Văn",
                          given_name="An", birthdate=date(1985, 1, 2), gender="male",
                          email=email, email_verified=True, phone="+84901234567",
                          phone_verified=True, locale="vi", level=LEVEL_VERIFIED)
        citizen.identifiers.append(NationalIdentifier(scheme="vn-pin", value=pin))
        db.session.add(citizen)
        db.session.add(RegistryEntry(scheme="vn-pin", identifier=pin, full_name=citizen.full_name,
                                     birthdate=citizen.birthdate, gender="male",
                                     address="1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
                                     document_number="C01234567"))
        db.session.commit()
        return citizen.id


def sign_in(app, browser, citizen_id: int, *, amr=("pwd",), acr="urn:idp:acr:basic",
            ago: float = 0) -> str:
    """What the sign-in page does after a successful sign-in, then the browser keeps the cookie.
    ``ago`` dates the sign-in back that many seconds (max_age and prompt=login tests)."""
    with app.test_request_context():
        start_session(citizen_id, amr=list(amr), acr=acr,
                      auth_time=utcnow() - timedelta(seconds=ago) if ago else None)
        db.session.commit()
        token = g.idp_session_cookie
    browser.set_cookie(COOKIE_NAME, token)
    return token


def register(app, **kwargs) -> tuple[str, str | None]:
    kwargs.setdefault("name", "Cổng dịch vụ công")
    kwargs.setdefault("redirect_uris", [REDIRECT])
    kwargs.setdefault("scope", ALL_SCOPES)
    kwargs.setdefault("post_logout_redirect_uris", [POST_LOGOUT])
    with app.app_context():
        client, secret = create_client(**kwargs)
        db.session.commit()
        return client.client_id, secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(browser, client_id: str, *, method: str = "GET", **params):
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
             "scope": "openid", "state": "st-" + secrets.token_hex(4)}
    query.update({k: v for k, v in params.items() if v is not None})
    for key in [k for k, v in params.items() if v is None]:
        query.pop(key, None)
    if method == "POST":
        return browser.post("/authorize", data=query)
    return browser.get("/authorize", query_string=query)


def form_action(html: str) -> str:
    """Where the page's first form posts (its ``action``, HTML-unescaped)."""
    return html.split('<form method="post" action="')[1].split('"')[0].replace("&amp;", "&")


def sign_in_page_resume(response) -> str:
    """The stored request a sign-in page goes on with (``/authorize/continue/<id>``, its form's
    ``next``): the page the authorization endpoint answers a GET with when the citizen must
    sign in."""
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="password"' in html, html[:500]
    action = form_action(html)
    assert action.startswith("/login?next="), action
    return unquote(action.split("next=")[1].split("&")[0])


def redirect_params(response) -> dict[str, str]:
    # 302, or 303 where the sign-in form's POST is answered with the code (RFC 9700 §4.12)
    expected = 303 if response.request.path == "/login" else 302
    assert response.status_code == expected, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent_and_code(browser, response) -> dict[str, str]:
    """Follow a consent page (allow) when one is shown; return the redirect's parameters."""
    if response.status_code == 200 and 'value="allow"' in response.get_data(as_text=True):
        response = decide(browser, response, "allow")
    return redirect_params(response)


def decide(browser, consent_page, decision: str):
    html = consent_page.get_data(as_text=True)
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    return browser.post(form_action(html), data={"csrf_token": csrf, "decision": decision})


def rp_session(app, client_id: str, secret: str | None = None, **kwargs) -> OAuth2Client:
    """Authlib's OAuth2 client library, its HTTP going to the app in-process (WSGI)."""
    return OAuth2Client(client_id, secret, redirect_uri=REDIRECT, base_url=ISSUER,
                        transport=httpx.WSGITransport(app=app), **kwargs)


def jwks_of(browser) -> KeySet:
    return KeySet.import_key_set(browser.get("/.well-known/jwks.json").get_json())


def verify(token: str, keyset: KeySet, algorithms=None):
    return jwt.decode(token, keyset, algorithms=algorithms)


@pytest.fixture
def citizen_id(app) -> int:
    return make_citizen(app)


@pytest.fixture
def rp(app) -> tuple[str, str]:
    return register(app, client_id="portal")


@pytest.fixture
def browser(client):
    return client


def exchange(browser, client_id: str, secret: str | None, code: str, *, redirect_uri: str = REDIRECT,
             verifier: str | None = None, auth: str = "basic"):
    """POST /token for a code, authenticating the way a relying party would."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    headers = {}
    if auth == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    elif auth == "post":
        data.update(client_id=client_id, client_secret=secret)
    else:
        data["client_id"] = client_id
    return browser.post("/token", data=data, headers=headers)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def code_for(browser, client_id: str, **params) -> dict[str, str]:
    """Authorize (the citizen is signed in), consent if asked, return the redirect parameters."""
    return consent_and_code(browser, authorize(browser, client_id, **params))


def tokens_for(browser, client_id: str, secret: str, **params) -> dict:
    params.setdefault("scope", "openid")
    code = code_for(browser, client_id, **params)["code"]
    response = exchange(browser, client_id, secret, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


#: The documented bound for a change heard through NOTIFY (README's cache table: milliseconds;
#: the tests allow a loaded CI machine far more).
HEARD_WITHIN = 1.0


def heard_within(app) -> float:
    """How long a change committed elsewhere may take to reach this node's cache: PostgreSQL,
    the notification's delivery; SQLite, none (the very next read sees it)."""
    return HEARD_WITHIN if app.config["IDP"].database_url.startswith("postgresql") else 0.0


def until_heard(app, stale, message: str) -> None:
    """Ask ``stale()`` until it is false, failing with ``message`` past :func:`heard_within`."""
    changed = time.monotonic()
    while stale():
        assert time.monotonic() - changed <= heard_within(app), message
        time.sleep(0.005)


def listening_client_cache(app):
    """The client cache (:mod:`idp.oidc.clients.record_cache`), on PostgreSQL listening for
    changes before this returns (tests start it themselves; stop it after)."""
    cache = cache_of(app)
    if app.config["IDP"].database_url.startswith("postgresql"):
        cache.start(app)
        deadline = time.monotonic() + 10
        while not cache.usable():
            assert time.monotonic() < deadline, "the listener never listened"
            time.sleep(0.02)
    return cache
