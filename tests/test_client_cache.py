"""The client cache of :mod:`idp.oidc.clients.record_cache` on PostgreSQL: a change committed by
any connection (another node, the admin command, plain SQL) empties it through the trigger's
NOTIFY within the documented bound, and it answers nothing while its listener is not listening.

The cross-node case with real server processes is ``tests/test_multinode.py``."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from idp.db import db
from idp.oidc.clients.record_cache import cache_of
from idp.oidc.clients.registry import client_record
from tests.oidc_support import make_citizen, register

#: The documented bound for a change heard through NOTIFY (docs/performance.md: milliseconds;
#: the test allows a loaded CI machine far more).
HEARD_WITHIN = 1.0


def _postgresql_only(app) -> None:
    if not app.config["IDP"].database_url.startswith("postgresql"):
        pytest.skip("the client cache runs on PostgreSQL only")


@pytest.fixture(autouse=True)
def _stop_listening(app):
    """The listener a test starts stops with it (its database goes with the test)."""
    yield
    cache = cache_of(app)
    if cache is not None:
        cache.stop()


def _listening(app):
    cache = cache_of(app)
    cache.start(app)
    deadline = time.monotonic() + 10
    while not cache.usable():
        assert time.monotonic() < deadline, "the listener never listened"
        time.sleep(0.02)
    return cache


def _read(app, client_id, **token):
    """(record, statements run) for one client_record call on a fresh connection; ``token``:
    a presented access token's ``jti`` and ``sub``, as introspection gives."""
    statements = []
    with app.app_context(), db.engine.connect() as connection:
        def count(*_args):
            statements.append(1)
        event.listen(connection, "before_cursor_execute", count)
        record = client_record(connection, client_id, **token)
    return record, len(statements)


def _outside(app, sql: str, **params) -> None:
    """A change committed by a connection of its own, as another node or an operator's psql."""
    engine = sa.create_engine(app.config["IDP"].database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def test_sqlite_keeps_no_client_cache(app):
    if app.config["IDP"].database_url.startswith("postgresql"):
        pytest.skip("the SQLite case")
    assert cache_of(app) is None


def test_a_client_disabled_by_another_connection_is_refused_within_the_bound(app):
    _postgresql_only(app)
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    _listening(app)
    first, statements = _read(app, client_id)
    assert first is not None and statements == 1
    again, statements = _read(app, client_id)
    assert again is not None and statements == 0  # from the cache

    _outside(app, "UPDATE clients SET enabled = false WHERE client_id = :id", id=client_id)
    changed = time.monotonic()
    while _read(app, client_id)[0] is not None:
        assert time.monotonic() - changed < HEARD_WITHIN, "the disabled client was still served"
        time.sleep(0.005)


def test_a_new_secret_committed_elsewhere_reaches_the_cache(app):
    """client_secrets has its own trigger: a rotated secret (inserted, the old one given an
    expiry) is seen without the clients row changing."""
    _postgresql_only(app)
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    _listening(app)
    assert len(_read(app, client_id)[0].secrets) == 1
    assert _read(app, client_id)[1] == 0
    _outside(app, "INSERT INTO client_secrets (client_pk, digest, created_at) "
                  "SELECT id, :digest, now() FROM clients WHERE client_id = :id",
             id=client_id, digest="0" * 64)
    changed = time.monotonic()
    while len(_read(app, client_id)[0].secrets) != 2:
        assert time.monotonic() - changed < HEARD_WITHIN
        time.sleep(0.005)


def test_the_cache_reads_the_database_while_its_listener_is_cut_off(app):
    """A listener whose connection the database ended hears nothing: the cache drops what it
    kept and every read goes to the database until it listens again."""
    _postgresql_only(app)
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    cache = _listening(app)
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0
    _outside(app, "SELECT pg_terminate_backend(:pid)", pid=cache.listener.backend_pid)
    deadline = time.monotonic() + HEARD_WITHIN
    while cache.usable():
        assert time.monotonic() < deadline, "a cut-off listener still counted as listening"
        time.sleep(0.005)
    assert _read(app, client_id)[1] == 1 and _read(app, client_id)[1] == 1  # not kept meanwhile
    _listening(app)  # it connects again by itself
    _read(app, client_id)
    assert _read(app, client_id)[1] == 0


def test_a_token_revoked_by_another_connection_is_reported_within_the_bound(app):
    """Introspection's token state (not revoked, citizen not locked) is kept like the client,
    and a revocation committed anywhere voids it (the trigger on revoked_access_tokens)."""
    _postgresql_only(app)
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    _listening(app)
    token = {"jti": "jti-revoked-elsewhere", "sub": "some-subject"}
    assert _read(app, client_id, **token)[0].token_revoked is False
    record, statements = _read(app, client_id, **token)
    assert (record.token_revoked, record.subject_locked, statements) == (False, False, 0)
    assert _read(app, client_id, jti="another-token", sub="some-subject")[1] == 1  # per token

    _outside(app, "INSERT INTO revoked_access_tokens (jti, expires_at) "
                  "VALUES (:jti, now() + interval '1 hour')", jti=token["jti"])
    changed = time.monotonic()
    while not _read(app, client_id, **token)[0].token_revoked:
        assert time.monotonic() - changed < HEARD_WITHIN, "the revoked token was still in good standing"
        time.sleep(0.005)
    assert _read(app, client_id, **token)[1] == 1  # a revoked token is read every time
    assert _read(app, client_id)[1] == 0  # the client itself stayed cached


def test_a_citizen_locked_by_another_connection_is_reported_within_the_bound(app):
    _postgresql_only(app)
    client_id, _ = register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    citizen = make_citizen(app)
    with app.app_context():
        uid = db.session.execute(sa.text("SELECT uid FROM citizens WHERE id = :id"), {"id": citizen}).scalar()
    _listening(app)
    token = {"jti": "jti-of-a-citizen", "sub": uid}
    assert _read(app, client_id, **token)[0].subject_locked is False
    assert _read(app, client_id, **token)[1] == 0
    _outside(app, "UPDATE citizens SET locked_until = now() + interval '1 day' WHERE id = :id", id=citizen)
    changed = time.monotonic()
    while not _read(app, client_id, **token)[0].subject_locked:
        assert time.monotonic() - changed < HEARD_WITHIN, "a locked citizen's token still in good standing"
        time.sleep(0.005)
