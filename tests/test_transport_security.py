"""An https deployment: HSTS on every answer (RFC 6797), ``__Host-`` session cookies (RFC 6265bis
§4.1.3.2). With the http loopback issuer of development nothing changes.

HSTS must be on the answers given before Flask (idp.fastpath: discovery, JWKS, client_credentials
tokens) as much as on pages and errors: idp.web.transport_security wraps the whole application.
"""

from __future__ import annotations

import re

import pytest

from idp.auth.sessions import COOKIE_NAME, HOST_COOKIE_NAME
from idp.db import db
from tests.factories import AN, PASSWORD, app_with_citizen, csrf_token, load_registry, make_citizen
from tests.oidc_support import basic, register

ISSUER = "https://id.example.gov.vn"
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture
def https_app(environ):
    app = app_with_citizen(environ, IDP_ISSUER=ISSUER)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _answers(app) -> dict[str, object]:
    client = app.test_client()
    client_id, secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid signature.verify")
    return {
        "page": client.get("/login", base_url=ISSUER),
        "redirect": client.get("/lang/en?next=/login", base_url=ISSUER),
        "not found": client.get("/no-such-page", base_url=ISSUER),
        "discovery (before Flask)": client.get("/.well-known/openid-configuration", base_url=ISSUER),
        "jwks (before Flask)": client.get("/jwks.json", base_url=ISSUER),
        "token (before Flask)": client.post("/token", base_url=ISSUER, headers=basic(client_id, secret),
                                            data={"grant_type": "client_credentials"}),
        "token error (Flask)": client.post("/token", base_url=ISSUER, data={"grant_type": "nonsense"}),
    }


def test_every_answer_of_an_https_issuer_carries_hsts(https_app):
    answers = _answers(https_app)
    assert answers["token (before Flask)"].status_code == 200
    assert {name: r.headers.get("Strict-Transport-Security") for name, r in answers.items()} == {
        name: HSTS for name in answers}
    assert all(r.headers.get_all("Strict-Transport-Security") == [HSTS] for r in answers.values())


def test_an_http_loopback_issuer_sends_no_hsts(app):
    assert all("Strict-Transport-Security" not in r.headers for r in _answers(app).values())


def test_session_cookies_of_an_https_issuer_have_the_host_prefix(https_app):
    client = https_app.test_client()
    page = client.get("/login", base_url=ISSUER).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", base_url=ISSUER, headers={"Referer": ISSUER + "/login"}, data={
        "csrf_token": token, "username": AN["identifier"], "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    set_cookies = response.headers.get_all("Set-Cookie")
    sso = [c for c in set_cookies if c.startswith(HOST_COOKIE_NAME + "=")]
    assert len(sso) == 1 and not any(c.startswith(COOKIE_NAME + "=") for c in set_cookies)
    attributes = [part.strip().lower() for part in sso[0].split(";")]
    assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
    assert not any(part.startswith("domain=") for part in attributes)
    flask_session = [c for c in set_cookies if c.startswith("__Host-session=")]
    assert flask_session and "secure" in flask_session[0].lower()
    assert "domain=" not in flask_session[0].lower()
    # the browser sends it back under that name, and the session is found by it
    assert client.get("/account", base_url=ISSUER).status_code == 200
    # a cookie under the old name (set by a sibling host or over http) is not a session
    other = https_app.test_client()
    other.set_cookie(COOKIE_NAME, client.get_cookie(HOST_COOKIE_NAME, domain="id.example.gov.vn").value)
    assert other.get("/account", base_url=ISSUER).status_code == 303


def test_an_http_loopback_issuer_keeps_the_plain_cookie_names(app):
    load_registry(app)
    make_citizen(app, AN)
    client = app.test_client()
    response = client.post("/login", data={
        "csrf_token": csrf_token(client), "username": AN["identifier"], "password": PASSWORD})
    names = [c.split("=")[0] for c in response.headers.get_all("Set-Cookie")]
    assert COOKIE_NAME in names and "session" in names and not any(n.startswith("__Host-") for n in names)
