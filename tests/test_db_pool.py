"""Pooled PostgreSQL connections: no liveness round trip for a connection in use a moment ago,
and still no failed request when the database dropped the pool's connections while idle
(a restart, a failover, a firewall's idle timeout): idp.db.pool."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from idp.db import db
from idp.db.pool import PING_AFTER_IDLE


def _backend_pid(app) -> int:
    with app.app_context():
        try:
            return db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        finally:
            db.session.remove()


@pytest.fixture
def pg_app(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("pooled connections that go stale: PostgreSQL only")
    return app


def test_connection_dropped_while_idle_is_replaced_before_the_request_uses_it(pg_app, database_url):
    first = _backend_pid(pg_app)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:  # the database side closes the pooled connection
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": first}).scalar_one()
    finally:
        admin.dispose()
    time.sleep(PING_AFTER_IDLE + 0.2)
    assert _backend_pid(pg_app) != first  # answered, on a fresh connection


def test_connection_back_from_a_request_a_moment_ago_is_reused_without_a_ping(pg_app):
    with pg_app.app_context():
        pings = []
        engine = db.engine
        original = engine.dialect.do_ping
        engine.dialect.do_ping = lambda connection: pings.append(1) or original(connection)
        try:
            first = _backend_pid(pg_app)
            assert _backend_pid(pg_app) == first
        finally:
            engine.dialect.do_ping = original
    assert pings == []
