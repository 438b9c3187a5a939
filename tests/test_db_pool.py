"""Pooled PostgreSQL connections: as many kept as a worker has threads (idp.app.POOL_SIZE); no
liveness round trip for a connection in use a moment ago, and still no failed request when the
database dropped the pool's connections while idle (a restart, a failover, a firewall's idle
timeout): idp.db.pool."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from idp.db import db, pool
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
        pytest.skip("the connection pool is PostgreSQL's (SQLite opens a file)")
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
    first, again, pings = _checked_out_after_idle(pg_app, 0)
    assert (again, pings) == (first, [])


def test_a_worker_busy_on_every_thread_keeps_its_connections(pg_app):
    """16 requests at once (the default threads of a worker, Dockerfile) hold 16 connections;
    the next 16 reuse them. A pool smaller than the threads would open its extra connections
    for one request and close them after it: a PostgreSQL backend started and ended per
    request under load, CPU on both sides for nothing."""
    threads = 16
    barrier = threading.Barrier(threads)

    def hold() -> int:
        with pg_app.app_context():
            try:
                pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                barrier.wait(timeout=30)  # every thread holds its connection at once
                return pid
            finally:
                db.session.remove()

    with ThreadPoolExecutor(threads) as pool:
        first = set(pool.map(lambda _: hold(), range(threads)))
        second = set(pool.map(lambda _: hold(), range(threads)))
    assert len(first) == threads
    assert second == first


def _checked_out_after_idle(pg_app, seconds: float) -> tuple[int, int, list]:
    """(backend before, backend after, pings): a connection back in the pool, idle ``seconds``,
    checked out again."""
    with pg_app.app_context():
        pings = []
        engine = db.engine
        original = engine.dialect.do_ping
        engine.dialect.do_ping = lambda connection: pings.append(1) or original(connection)
        try:
            first = _backend_pid(pg_app)
            time.sleep(seconds)
            return first, _backend_pid(pg_app), pings
        finally:
            engine.dialect.do_ping = original


def test_a_live_connection_idle_for_seconds_is_checked_out_without_a_ping(pg_app):
    """Idle past PING_AFTER_IDLE, its socket with nothing to read: the database did not end it."""
    first, again, pings = _checked_out_after_idle(pg_app, PING_AFTER_IDLE + 0.2)
    assert (again, pings) == (first, [])


def test_a_connection_idle_past_ping_always_after_is_pinged(pg_app, monkeypatch):
    """Long idle, a firewall may have dropped it without a word: pinged whatever its socket says."""
    monkeypatch.setattr(pool, "PING_ALWAYS_AFTER", PING_AFTER_IDLE + 0.1)
    first, again, pings = _checked_out_after_idle(pg_app, PING_AFTER_IDLE + 0.2)
    assert (again, pings) == (first, [1])
