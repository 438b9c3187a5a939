"""The cache of :mod:`idp.oidc.clients.record_cache`: a change committed by any connection
(another node, the admin command, plain SQL) empties it, on PostgreSQL through the triggers'
NOTIFY within the documented bound, on SQLite through the triggers' change counts by the next
read; it answers nothing while it cannot know of changes (PostgreSQL: its listener is not
listening; SQLite: the counts cannot be read).

The cross-node case with real server processes is ``tests/test_multinode.py``."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from idp.citizens.models import Citizen
from idp.db import db
from idp.db.direct import DirectConnection
from idp.db.types import utcnow
from idp.oidc.clients.record_cache import cache_of
from idp.oidc.clients.registry import client_record
from idp.oidc.models import Client, ClientSecret, RevokedAccessToken
from idp.oidc.tokens.access import unverified_claims
from tests.oidc_support import (
    HEARD_WITHIN,
    authorize,
    basic,
    heard_within,
    listening_client_cache,
    make_citizen,
    register,
    sign_in,
    tokens_for,
    until_heard,
)


def _postgresql(app) -> bool:
    return app.config["IDP"].database_url.startswith("postgresql")


@pytest.fixture(autouse=True)
def _stop_listening(app):
    """The listener a test starts stops with it (its database goes with the test)."""
    yield
    cache = cache_of(app)
    if cache is not None:
        cache.stop()


def _read(app, client_id, **token):
    """(record, statements run through SQLAlchemy) for one client_record call on a fresh
    connection; ``token``: a presented access token's ``jti`` and ``sub``, as introspection
    gives."""
    statements = []
    with app.app_context(), db.engine.connect() as connection:
        def count(*_args):
            statements.append(1)
        event.listen(connection, "before_cursor_execute", count)
        record = client_record(connection, client_id, **token)
    return record, len(statements)


def _outside(app, statement) -> None:
    """A change committed by a connection of its own, as another node or an operator's psql."""
    engine = sa.create_engine(app.config["IDP"].database_url)
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    finally:
        engine.dispose()


def _service(app) -> str:
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    return client_id


def test_a_client_disabled_by_another_connection_is_refused_within_theheard_within(app):
    client_id = _service(app)
    listening_client_cache(app)
    first, statements = _read(app, client_id)
    assert first is not None and statements == 1
    again, statements = _read(app, client_id)
    assert again is not None and statements == 0  # from the cache

    _outside(app, sa.update(Client.__table__).where(Client.client_id == client_id).values(enabled=False))
    until_heard(app, lambda: _read(app, client_id)[0] is not None, "the disabled client was still served")


def test_a_new_secret_committed_elsewhere_reaches_the_cache(app):
    """client_secrets has its own trigger: a rotated secret (inserted, the old one given an
    expiry) is seen without the clients row changing."""
    client_id = _service(app)
    listening_client_cache(app)
    assert len(_read(app, client_id)[0].secrets) == 1
    assert _read(app, client_id)[1] == 0
    with app.app_context():
        pk = db.session.scalar(sa.select(Client.id).where(Client.client_id == client_id))
    _outside(app, sa.insert(ClientSecret.__table__).values(client_pk=pk, digest="0" * 64,
                                                            created_at=utcnow()))
    until_heard(app, lambda: len(_read(app, client_id)[0].secrets) != 2, "the new secret was not seen")


def test_a_token_revoked_by_another_connection_is_reported_within_theheard_within(app):
    """Introspection's token state (not revoked, citizen not locked) is kept like the client,
    and a revocation committed anywhere voids it (the trigger on revoked_access_tokens)."""
    client_id = _service(app)
    listening_client_cache(app)
    token = {"jti": "jti-revoked-elsewhere", "sub": "some-subject"}
    assert _read(app, client_id, **token)[0].token_revoked is False
    record, statements = _read(app, client_id, **token)
    assert (record.token_revoked, record.subject_locked, statements) == (False, False, 0)
    assert _read(app, client_id, jti="another-token", sub="some-subject")[1] == 1  # per token

    _outside(app, sa.insert(RevokedAccessToken.__table__).values(
        jti=token["jti"], expires_at=utcnow() + timedelta(hours=1)))
    until_heard(app, lambda: not _read(app, client_id, **token)[0].token_revoked,
           "the revoked token was still in good standing")
    assert _read(app, client_id, **token)[1] == 1  # a revoked token is read every time
    assert _read(app, client_id)[1] == 0  # the client itself stayed cached


def test_a_presented_tokens_standing_does_not_change_the_shared_cached_client(app):
    """The cached client is one record shared by every request; introspection's answer about
    a revoked token comes on a copy of it, never on the record the next request gets."""
    client_id = _service(app)
    listening_client_cache(app)
    _outside(app, sa.insert(RevokedAccessToken.__table__).values(
        jti="jti-revoked", expires_at=utcnow() + timedelta(hours=1)))
    _read(app, client_id)  # read from the database, then kept
    shared, _ = _read(app, client_id)
    revoked, _ = _read(app, client_id, jti="jti-revoked", sub="some-subject")
    assert revoked.token_revoked is True and revoked is not shared
    again, statements = _read(app, client_id)
    assert again is shared and statements == 0
    assert (again.token_revoked, again.subject_locked) == (None, None)


def test_a_citizen_locked_by_another_connection_is_reported_within_theheard_within(app):
    client_id = _service(app)
    citizen = make_citizen(app)
    with app.app_context():
        uid = db.session.scalar(sa.select(Citizen.uid).where(Citizen.id == citizen))
    listening_client_cache(app)
    token = {"jti": "jti-of-a-citizen", "sub": uid}
    assert _read(app, client_id, **token)[0].subject_locked is False
    assert _read(app, client_id, **token)[1] == 0
    _outside(app, sa.update(Citizen.__table__).where(Citizen.id == citizen).values(
        locked_until=utcnow() + timedelta(days=1)))
    until_heard(app, lambda: not _read(app, client_id, **token)[0].subject_locked,
           "a locked citizen's token was still in good standing")


def test_a_change_elsewhere_of_another_citizen_keeps_the_cache(app):
    """Only a lock changes a token's standing: a citizen's other columns changing (a sign-in
    writes some) leaves the cache as it was."""
    client_id = _service(app)
    citizen = make_citizen(app)
    listening_client_cache(app)
    token = {"jti": "jti-kept", "sub": "some-subject"}
    _read(app, client_id, **token)
    _outside(app, sa.update(Citizen.__table__).where(Citizen.id == citizen).values(locale="en"))
    time.sleep(heard_within(app) / 4)
    assert _read(app, client_id, **token)[1] == 0


def test_the_cache_reads_the_database_while_its_listener_is_cut_off(app):
    """PostgreSQL: a listener whose connection the database ended hears nothing: the cache drops
    what it kept and every read goes to the database until it listens again."""
    if not _postgresql(app):
        pytest.skip("the listener is PostgreSQL's")
    client_id = _service(app)
    cache = listening_client_cache(app)
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0
    _outside(app, sa.text(f"SELECT pg_terminate_backend({int(cache.listener.backend_pid)})"))
    deadline = time.monotonic() + HEARD_WITHIN
    while cache.usable():
        assert time.monotonic() < deadline, "a cut-off listener still counted as listening"
        time.sleep(0.005)
    assert _read(app, client_id)[1] == 1 and _read(app, client_id)[1] == 1  # not kept meanwhile
    listening_client_cache(app)  # it connects again by itself
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0


#: A listener alone in a process of its own, idle for 4 s: how many times its thread was woken
#: (Linux: its voluntary switches). Alone, because in the test's own process every other
#: thread holding the GIL adds a switch whenever the listener wants it back.
_IDLE_LISTENER = r"""
import sys, threading, time
import sqlalchemy as sa
from idp.db.notifications import Listener

def wake_ups(thread):
    with open(f"/proc/self/task/{thread.native_id}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))

listening = threading.Event()
listener = Listener(sa.create_engine(sys.argv[1]), "idp_test_idle", lambda payload: None,
                    lambda state: state and listening.set())
listener.start()
assert listening.wait(10)
time.sleep(0.5)
before = wake_ups(listener)
time.sleep(4)
print(wake_ups(listener) - before)
listener.stop()
"""


def test_an_idle_listener_sleeps_until_the_database_speaks_or_its_check_is_due(app):
    """PostgreSQL: between two health checks (a second apart) the listening thread does not
    wake; and a notification still reaches the cache at once. Every worker of every node runs
    one, on cores that password hashes leave cold for whatever wakes up."""
    if not _postgresql(app):
        pytest.skip("the listener is PostgreSQL's")
    woken = subprocess.run([sys.executable, "-c", _IDLE_LISTENER, app.config["IDP"].database_url],
                           capture_output=True, text=True, timeout=60, check=True)
    # Four checks, each a sleep until it is due and a wait for the answer to SELECT 1: about
    # 8 (4 to 9 seen, on a quiet machine and on one whose two cores were busy); a thread woken
    # every tenth of a second for nothing shows 40 and more.
    assert int(woken.stdout) <= 20
    client_id = _service(app)
    listening_client_cache(app)
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0  # kept
    _outside(app, sa.update(Client.__table__).where(Client.client_id == client_id).values(enabled=False))
    until_heard(app, lambda: _read(app, client_id)[0] is not None, "the disabled client was still served")


def test_sqlite_reads_the_database_while_the_change_counts_cannot_be_read(app):
    """SQLite: without its change counts (here the table is gone) the cache cannot know of a
    change, so it answers nothing."""
    if _postgresql(app):
        pytest.skip("the change counts are SQLite's")
    client_id = _service(app)
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0
    _outside(app, sa.text("DROP TABLE cache_changes"))
    assert _read(app, client_id)[1] == 1 and _read(app, client_id)[1] == 1


@pytest.fixture
def statements(app, monkeypatch):
    """Every statement run through SQLAlchemy or on a thread's direct connection
    (:mod:`idp.db.direct`), from when the test first asks for the list (``statements.clear()``
    starts counting again)."""
    seen = []
    with app.app_context():
        engine = db.engine

    def record(_connection, _cursor, statement, *_args):
        seen.append(statement)
    direct_execute = DirectConnection.execute

    def record_direct(self, sql, params):
        seen.append(sql)
        return direct_execute(self, sql, params)
    monkeypatch.setattr(DirectConnection, "execute", record_direct)
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _reading(statements: list[str], table: str) -> list[str]:
    return [statement for statement in statements if f"FROM {table}" in statement]


def test_the_authorization_endpoint_refuses_a_client_disabled_elsewhere_within_the_bound(app, statements):
    """The Flask endpoints' client objects are built from the cache too
    (idp.oidc.clients.attached): the second authorization request reads no client row, and a
    client disabled by another connection is refused within the same bound."""
    client_id, _ = register(app)
    listening_client_cache(app)
    statements.clear()
    browser = app.test_client()
    assert authorize(browser, client_id).status_code == 200  # the sign-in page
    assert authorize(browser, client_id).status_code == 200
    assert len(_reading(statements, "clients")) == 1  # the first request's; the second: the cache

    _outside(app, sa.update(Client.__table__).where(Client.client_id == client_id).values(enabled=False))
    until_heard(app, lambda: authorize(browser, client_id).status_code == 200,
           "the disabled client was still sent to sign in")
    refused = authorize(browser, client_id)
    assert refused.status_code == 400 and "Location" not in refused.headers


def test_a_secret_expired_elsewhere_is_refused_at_the_token_endpoints_within_the_bound(app, statements):
    """Client authentication on the Flask path (here revocation) checks the secrets the cache
    holds, which a change to client_secrets anywhere voids."""
    client_id, secret = register(app)
    listening_client_cache(app)
    browser = app.test_client()

    def revoke():
        return browser.post("/revoke", data={"token": "not-a-token"}, headers=basic(client_id, secret))

    assert revoke().status_code == 200
    statements.clear()
    assert revoke().status_code == 200
    assert _reading(statements, "clients") == []  # the client and its secret from the cache

    with app.app_context():
        pk = db.session.scalar(sa.select(Client.id).where(Client.client_id == client_id))
    _outside(app, sa.update(ClientSecret.__table__).where(ClientSecret.client_pk == pk)
             .values(expires_at=utcnow() - timedelta(seconds=1)))
    until_heard(app, lambda: revoke().status_code == 200, "the expired secret was still accepted")
    assert revoke().status_code == 401


@pytest.mark.parametrize("change", ["revoked", "locked"])
def test_userinfo_refuses_a_token_revoked_or_a_citizen_locked_elsewhere_within_the_bound(app, statements,
                                                                                          change):
    """RFC 6750 §3.1 ``invalid_token`` at UserInfo (OIDC Core §5.3.3): the standing of a
    presented token (not revoked, citizen not locked) is kept by the cache after its first
    read, as for introspection, and a revocation or lock committed by any connection voids it."""
    client_id, secret = register(app)
    citizen = make_citizen(app)
    browser = app.test_client()
    sign_in(app, browser, citizen)
    access_token = tokens_for(browser, client_id, secret)["access_token"]
    listening_client_cache(app)
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert browser.get("/userinfo", headers=bearer).status_code == 200
    statements.clear()
    assert browser.get("/userinfo", headers=bearer).status_code == 200
    assert _reading(statements, "revoked_access_tokens") == []  # the standing from the cache

    claims = unverified_claims(access_token)
    if change == "revoked":
        _outside(app, sa.insert(RevokedAccessToken.__table__).values(
            jti=claims["jti"], expires_at=utcnow() + timedelta(hours=1)))
    else:
        _outside(app, sa.update(Citizen.__table__).where(Citizen.id == citizen).values(
            locked_until=utcnow() + timedelta(days=1)))
    until_heard(app, lambda: browser.get("/userinfo", headers=bearer).status_code == 200,
           f"UserInfo still answered for a token whose citizen or itself was {change} elsewhere")
    refused = browser.get("/userinfo", headers=bearer)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
