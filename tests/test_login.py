"""Password sign-in at /login, the SSO session it starts, and sign-out at /signout."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from idp import create_app
from idp.audit.models import AuditEvent
from idp.auth.lockout import FREE_FAILURES
from idp.auth.models import PasswordCredential, SsoSession
from idp.auth.sessions import COOKIE_NAME, HOST_COOKIE_NAME
from idp.db import db
from tests.factories import (
    AN,
    PASSWORD,
    app_with_citizen,
    csrf_token,
    load_registry,
    make_citizen,
    page_csrf,
    sign_in,
)

WRONG = "The identification number, email, phone or password is wrong."


@pytest.fixture
def citizen_app(app):
    load_registry(app)
    app.config["CITIZEN_ID"] = make_citizen(app, AN, email="An.Nguyen@Example.vn", phone="0912345678")
    return app


def _cookie(client):
    return client.get_cookie(COOKIE_NAME)


def _events(app, action="signin"):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()


@pytest.mark.parametrize("username", [AN["identifier"], "001 085 888 274", "an.nguyen@example.vn",
                                      "+84 912 345 678", "0912-345-678"])
def test_sign_in_with_number_email_or_phone_starts_an_sso_session(citizen_app, username):
    client = citizen_app.test_client()
    response = sign_in(client, username)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    cookie = _cookie(client)
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
    with citizen_app.app_context():
        session = db.session.scalar(select(SsoSession))
        assert session.citizen_id == citizen_app.config["CITIZEN_ID"]
        assert session.amr == ["pwd"] and session.acr == "urn:idp:acr:basic"
    events = _events(citizen_app)
    assert [(e.outcome, e.details) for e in events] == [("success", {"method": "pwd"})]
    assert client.get("/account").status_code == 200


def test_session_cookie_is_secure_when_the_issuer_is_https(environ):
    app = app_with_citizen(environ, IDP_ISSUER="https://id.example.gov")
    client = app.test_client()
    sign_in(client)
    assert _cookie(client) is None  # on https the name has the __Host- prefix (test_transport_security)
    assert client.get_cookie(HOST_COOKIE_NAME).secure
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_wrong_password_and_unknown_account_get_the_same_answer(citizen_app):
    client = citizen_app.test_client()
    wrong_password = sign_in(client, password="not the password")
    unknown = sign_in(client, username="001085000001", password="not the password")
    assert wrong_password.status_code == unknown.status_code == 422
    assert WRONG in wrong_password.get_data(as_text=True)
    assert WRONG in unknown.get_data(as_text=True)
    assert _cookie(client) is None
    events = _events(citizen_app)
    assert [(e.outcome, e.citizen_id, e.details["reason"]) for e in events] == [
        ("failure", citizen_app.config["CITIZEN_ID"], "bad_password"),
        ("failure", None, "unknown_account"),
    ]


def test_wrong_password_and_unknown_account_take_the_same_time(environ):
    """Both run one argon2 verification; measured with production-strength parameters."""
    app = app_with_citizen(environ, IDP_ARGON2_TIME_COST="2", IDP_ARGON2_MEMORY_COST="16384",
                           IDP_LOGIN_RATE_LIMIT="1000/minute")
    client = app.test_client()

    def timed(username):
        # The request's CPU time in this thread (the test client runs the app here; argon2 with
        # one lane too): what the two paths do, not what else the machine was doing meanwhile.
        started = time.thread_time()
        sign_in(client, username=username, password="not the password")
        return time.thread_time() - started

    known, unknown = [], []
    # Interleaved, so a slow stretch of the machine hits both; two of each, the failures that
    # cost nothing (idp.auth.lockout.FREE_FAILURES): a third would wait, and a waiting attempt
    # is answered without checking anything, for known and unknown usernames alike.
    for i in range(FREE_FAILURES):
        known.append(timed(AN["identifier"]))
        unknown.append(timed(f"00108500000{i}"))
    assert abs(min(known) - min(unknown)) < max(min(known), min(unknown)) * 0.5
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_next_is_followed_when_it_is_a_local_path(citizen_app):
    client = citizen_app.test_client()
    target = "/authorize/continue/abc?x=1"
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'action="/login?next=/authorize/continue/abc?x%3D1"' in page
    response = sign_in(client, next=target)
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "evil.example/x", "/ok\r\nX: y"])
def test_next_never_becomes_an_open_redirect(citizen_app, target):
    response = sign_in(citizen_app.test_client(), next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"


def test_login_hint_prefills_the_username(citizen_app):
    html = citizen_app.test_client().get("/login?login_hint=an.nguyen%40example.vn").get_data(as_text=True)
    assert 'name="username"' in html and 'value="an.nguyen@example.vn"' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert '<label for="username">' in html and '<label for="password">' in html


def test_login_pages_are_not_cached_and_carry_security_headers(citizen_app):
    response = citizen_app.test_client().get("/login")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "<script" not in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(citizen_app):
    client = citizen_app.test_client()
    response = client.post("/login", data={"username": AN["identifier"], "password": PASSWORD})
    assert response.status_code == 400
    assert _cookie(client) is None


def test_signing_in_again_rotates_the_cookie_and_keeps_the_session(citizen_app):
    """The same citizen signing in again adds to the session (``sid`` kept, relying parties
    stay joined) but the cookie token is new (idp.auth.signin.complete_sign_in)."""
    client = citizen_app.test_client()
    sign_in(client)
    first = _cookie(client).value
    sign_in(client)
    second = _cookie(client).value
    assert first != second
    with citizen_app.app_context():
        sessions = db.session.scalars(select(SsoSession).order_by(SsoSession.id)).all()
        assert [s.end_reason for s in sessions] == [None]
    client.set_cookie(COOKIE_NAME, first)
    assert client.get("/account").status_code == 303  # the old cookie no longer signs in


def test_another_citizen_signing_in_on_the_same_browser_gets_a_new_session(citizen_app):
    from tests.factories import NGOC

    make_citizen(citizen_app, NGOC, email=None)
    client = citizen_app.test_client()
    sign_in(client)
    sign_in(client, NGOC["identifier"])
    with citizen_app.app_context():
        sessions = db.session.scalars(select(SsoSession).order_by(SsoSession.id)).all()
        assert [s.end_reason for s in sessions] == ["rotated", None]
        assert sessions[0].sid != sessions[1].sid


def test_a_planted_cookie_never_becomes_a_session(citizen_app):
    client = citizen_app.test_client()
    client.set_cookie(COOKIE_NAME, "planted-by-attacker")
    sign_in(client)
    assert _cookie(client).value != "planted-by-attacker"


def test_signout_ends_the_session_and_needs_csrf(citizen_app):
    client = citizen_app.test_client()
    sign_in(client)
    assert client.post("/signout").status_code == 400  # no CSRF token
    assert client.get("/account").status_code == 200
    token = page_csrf(client, "/account")
    response = client.post("/signout", data={"csrf_token": token}, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "You are signed out" in response.get_data(as_text=True)
    assert _cookie(client) is None
    assert client.get("/account").status_code == 303
    with citizen_app.app_context():
        assert db.session.scalar(select(SsoSession)).end_reason == "logout"
    assert [e.details for e in _events(citizen_app, "signout")] == [{"reason": "logout"}]


def test_signout_with_get_is_not_allowed(citizen_app):
    assert citizen_app.test_client().get("/signout").status_code == 405


def test_a_hash_made_with_old_parameters_is_rehashed_at_sign_in(citizen_app, environ):
    stronger = create_app({**environ, "IDP_ARGON2_TIME_COST": "2"})
    client = stronger.test_client()
    with stronger.app_context():
        old = db.session.scalar(select(PasswordCredential)).hash
        assert "t=1" in old
    assert sign_in(client).status_code == 303
    with stronger.app_context():
        new = db.session.scalar(select(PasswordCredential)).hash
        assert new != old and "t=2" in new
        db.session.remove()
        db.engine.dispose()
    assert sign_in(client).status_code == 303


def test_an_account_locked_by_an_admin_cannot_sign_in(citizen_app):
    from datetime import timedelta

    from idp.citizens.models import Citizen
    from idp.db.types import utcnow

    with citizen_app.app_context():
        citizen = db.session.get(Citizen, citizen_app.config["CITIZEN_ID"])
        citizen.locked_until = utcnow() + timedelta(days=1)
        db.session.commit()
    response = sign_in(citizen_app.test_client())
    assert response.status_code == 403
    assert "locked by an administrator" in response.get_data(as_text=True)


def test_sign_in_form_errors_are_announced(citizen_app):
    client = citizen_app.test_client()
    response = client.post("/login", data={"csrf_token": csrf_token(client), "username": "", "password": ""},
                           headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'role="alert"' in html and "Enter your identification number, email or phone." in html
    assert 'aria-invalid="true"' in html


@pytest.mark.parametrize("username", ["an\x00@example.vn", "\x00", "0912\x00345678", "x" * 300])
def test_malformed_usernames_are_an_ordinary_failure(citizen_app, username):
    """Control characters (PostgreSQL refuses NUL) and overlong names never reach a query."""
    response = sign_in(citizen_app.test_client(), username=username, password="wrong password")
    assert response.status_code == 422
