"""Brute-force protection: per-account growing wait then a temporary lock, per-IP limits.

Counters live in process for the SQLite variant and in Redis for the PostgreSQL one (when
``IDP_TEST_REDIS_URL`` is set). The clock is moved forward instead of sleeping.
"""

from __future__ import annotations

import pytest

from idp.auth import lockout
from idp.db import db
from tests.factories import AN, PASSWORD, app_with_citizen, sign_in


@pytest.fixture
def clock(clock):
    """The server's clock, frozen: each test moves it by exact seconds."""
    clock.now = 1_900_000_000.0
    return clock


def _app(environ, **settings):
    return app_with_citizen(environ, **{"IDP_LOGIN_RATE_LIMIT": "1000/minute", **settings})


@pytest.fixture
def locking_app(environ):
    app = _app(environ, IDP_LOGIN_MAX_FAILURES="5", IDP_LOGIN_LOCK_TTL="600")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_failures_impose_a_growing_wait_then_lock_and_the_lock_lifts_after_its_delay(locking_app, clock):
    client = locking_app.test_client()
    en = {"Accept-Language": "en"}
    for _ in range(2):  # the first two failures cost nothing
        assert sign_in(client, password="wrong password").status_code == 422
    third = sign_in(client, password="wrong password")
    assert third.status_code == 422 and "Wait 1 second before trying again." in _text(third)

    # During the wait even the right password is not looked at.
    waiting = client.post("/login", headers=en, data=_login_data(client, PASSWORD))
    assert waiting.status_code == 429
    assert waiting.headers["Retry-After"] == "1"
    assert "Too many failed attempts. Wait 1 second before trying again." in _text(waiting)

    clock.now += 1
    fourth = sign_in(client, password="wrong password")
    assert "Wait 2 seconds" in _text(fourth)
    clock.now += 2
    locked = sign_in(client, password="wrong password")  # the 5th failure locks
    assert locked.status_code == 429
    assert "This account is locked after too many failed sign-in attempts. Try again in 10 minutes." \
        in _text(locked)

    clock.now += 599
    still = sign_in(client)
    assert still.status_code == 429 and "locked" in _text(still)
    assert still.headers["Retry-After"] == "1"

    clock.now += 1
    assert sign_in(client).status_code == 303  # the delay is over: the right password works
    # and a success resets the count
    assert sign_in(client, password="wrong password").status_code == 422
    assert "Wait" not in _text(sign_in(client, password="wrong password"))


def _login_data(client, password):
    from tests.factories import csrf_token

    return {"csrf_token": csrf_token(client), "username": AN["identifier"], "password": password}


def test_the_lock_holds_whichever_name_the_account_is_given(locking_app, clock):
    client = locking_app.test_client()
    for _ in range(5):
        sign_in(client, password="wrong password")
        clock.now += 60
    by_email = sign_in(client, username="an@example.vn")
    assert by_email.status_code == 429 and "locked" in _text(by_email)


def test_unknown_accounts_lock_alike_so_locking_reveals_nothing(locking_app, clock):
    client = locking_app.test_client()
    for _ in range(5):
        response = sign_in(client, username="001085000001", password="wrong password")
        clock.now += 60
    assert response.status_code == 429 and "locked" in _text(response)


def test_lock_events_are_in_the_sign_in_history(locking_app, clock):
    from sqlalchemy import select

    from idp.audit.models import AuditEvent

    client = locking_app.test_client()
    for _ in range(6):
        sign_in(client, password="wrong password")
        clock.now += 60
    with locking_app.app_context():
        reasons = [e.details["reason"] for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "signin").order_by(AuditEvent.id))]
    assert reasons == ["bad_password"] * 5 + ["locked"]


def test_per_ip_limit_answers_429_with_retry_after(environ):
    app = _app(environ, IDP_LOGIN_RATE_LIMIT="3/minute")
    client = app.test_client()
    # different accounts each time: only the per-IP limit can stop the 4th
    statuses = [sign_in(client, username=f"00108500000{i}", password="wrong password").status_code
                for i in range(4)]
    assert statuses == [422, 422, 422, 429]
    blocked = sign_in(client, password=PASSWORD)
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "Too many attempts from your network" in blocked.get_data(as_text=True)
    # another address is counted apart
    assert sign_in(app.test_client(), remote_addr="10.0.0.2").status_code == 303
    # reading the form is never limited
    assert client.get("/login").status_code == 200
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_lockout_policy_waits():
    policy = lockout.Policy(max_failures=10, lock_seconds=900)
    assert [policy.wait_after(n) for n in range(1, 11)] == [0, 0, 1, 2, 4, 8, 16, 32, 64, 900]


def test_per_ip_limit_in_process_starts_no_thread_per_sign_in_and_sweeps_expired_entries(
        environ, monkeypatch):
    """Without Redis the per-IP counts live in the process (idp.auth.ratelimit_memory): limits'
    own store would start a timer thread after nearly every POST to drop expired entries; here
    the POSTs themselves sweep, at most once a second, and only entries past their window go."""
    import threading
    import time

    from idp.auth.ratelimit_memory import SWEEP_EVERY

    timers = []

    class CountedTimer(threading.Timer):
        def __init__(self, *args, **kwargs):
            timers.append(args)
            super().__init__(*args, **kwargs)

    app = _app(environ, IDP_LOGIN_RATE_LIMIT="1000/second", IDP_REDIS_URL="")  # counts in process
    storage = app.extensions["idp.limiter"].storage
    monkeypatch.setattr(threading, "Timer", CountedTimer)
    client = app.test_client()
    for i in range(3):  # different accounts: no per-account wait comes into it
        assert sign_in(client, username=f"00108500000{i}", password="wrong password").status_code == 422
    assert timers == []
    assert [len(entries) for entries in storage.events.values()] == [3]
    time.sleep(max(1.0, SWEEP_EVERY) + 0.2)  # the three entries leave their one-second window
    assert sign_in(client, username="001085000003", password="wrong password").status_code == 422
    assert [len(entries) for entries in storage.events.values()] == [1]
    assert timers == []
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
