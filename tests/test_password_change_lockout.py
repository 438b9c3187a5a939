"""A wrong current password on the password-change form is a guess like a failed sign-in.

NIST SP 800-63B §5.2.2: it counts toward the account's lockout (idp.auth.lockout, the counter
sign-in uses): the growing wait, then the lock at IDP_LOGIN_MAX_FAILURES. While the account
waits or is locked the form checks nothing, so a stolen session cannot guess the password from
several addresses, and sign-in is throttled by the same failures. Over HTTP, real database.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp import create_app
from idp.audit.models import AuditEvent
from idp.auth import lockout
from idp.auth.models import PasswordCredential
from idp.auth.password import verify_password
from idp.db import db
from tests.factories import PASSWORD, load_registry, make_citizen, page_csrf, sign_in
from tests.schema import create_tables

NEW = "một mật khẩu mới dài"


class Clock:
    now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(lockout, "_now", fake)
    return fake


@pytest.fixture
def app(environ):
    application = create_app({**environ, "IDP_LOGIN_RATE_LIMIT": "1000/minute",
                              "IDP_LOGIN_MAX_FAILURES": "5", "IDP_LOGIN_LOCK_TTL": "600"})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    load_registry(application)
    application.config["CITIZEN_ID"] = make_citizen(application)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _change(client, current: str, remote_addr: str = "127.0.0.1"):
    data = {"csrf_token": page_csrf(client, "/account/password"), "current_password": current,
            "password": NEW, "password_confirm": NEW}
    return client.post("/account/password", data=data, headers={"Accept-Language": "en"},
                       environ_base={"REMOTE_ADDR": remote_addr})


def _password_is(app, password: str) -> bool:
    with app.app_context():
        stored = db.session.scalar(select(PasswordCredential.hash).where(
            PasswordCredential.citizen_id == app.config["CITIZEN_ID"]))
        return verify_password(stored, password)


def test_wrong_current_passwords_impose_the_sign_in_wait_then_lock(app, clock):
    client = app.test_client()
    assert sign_in(client).status_code == 303
    statuses = [_change(client, "wrong guess", f"198.51.100.{i}").status_code for i in range(3)]
    assert statuses == [422, 422, 422]
    waiting = _change(client, PASSWORD, "198.51.100.9")  # even the right one is not looked at
    assert waiting.status_code == 429 and waiting.headers["Retry-After"] == "1"
    assert "Too many failed attempts" in waiting.get_data(as_text=True)
    assert _password_is(app, PASSWORD)
    # the same counter as sign-in: signing in is throttled too
    assert sign_in(app.test_client()).status_code == 429

    clock.now += 1
    assert _change(client, "wrong guess").status_code == 422
    clock.now += 2
    locked = _change(client, "wrong guess")  # the 5th failure locks
    assert locked.status_code == 429
    assert "This account is locked after too many failed sign-in attempts" in locked.get_data(as_text=True)
    clock.now += 60
    refused = _change(client, PASSWORD)
    assert refused.status_code == 429 and "locked" in refused.get_data(as_text=True)
    assert _password_is(app, PASSWORD) and not _password_is(app, NEW)
    with app.app_context():  # every refusal is in the audit log, as sign-in's are
        reasons = [e.details["reason"] for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "password.change").order_by(AuditEvent.id))]
    assert reasons == ["bad_password"] * 3 + ["wait", "bad_password", "bad_password", "locked"]


def test_a_locked_account_cannot_change_its_password(app, clock):
    client = app.test_client()
    assert sign_in(client).status_code == 303
    for _ in range(5):  # the password guessed at the sign-in page, by someone else
        sign_in(app.test_client(), password="wrong guess")
        clock.now += 60
    response = _change(client, PASSWORD)
    assert response.status_code == 429 and "locked" in response.get_data(as_text=True)
    assert _password_is(app, PASSWORD)
    clock.now += 600
    assert _change(client, PASSWORD).status_code == 303 and _password_is(app, NEW)


def test_a_right_current_password_resets_the_count(app, clock):
    client = app.test_client()
    assert sign_in(client).status_code == 303
    for _ in range(2):
        assert _change(client, "wrong guess").status_code == 422
    assert _change(client, PASSWORD).status_code == 303
    assert sign_in(app.test_client(), password="wrong guess").status_code == 422
    third = sign_in(app.test_client(), password="wrong guess")
    assert third.status_code == 422 and "Wait" not in third.get_data(as_text=True)
