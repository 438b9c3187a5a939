"""The thread's own PostgreSQL connection (idp.db.direct) checks its health without a round
trip where its socket tells: a connection the database ended while it sat idle (a restart,
``pg_terminate_backend``: the database sends its error and closes the socket) is replaced
before the statement that would have failed; a live one idle for seconds is used as it is;
past ``PING_ALWAYS_AFTER`` (a firewall may have dropped it silently) it is pinged first."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from idp.db import db, direct
from idp.db.pool import PING_AFTER_IDLE, PING_ALWAYS_AFTER, has_input

_BACKEND = sa.select(sa.func.pg_backend_pid())


@pytest.fixture
def engine(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's connection is a file: nothing to ping")
    with app.app_context():
        yield db.engine


def _pings(own: direct.DirectConnection) -> list[str]:
    """The liveness statements ``own``'s connection is sent from now on."""
    sent: list[str] = []
    execute = own.connection.execute
    own.connection.execute = lambda query, *args, **kwargs: (
        sent.append(query) if query == "SELECT 1" else None) or execute(query, *args, **kwargs)
    return sent


def _idle(own: direct.DirectConnection, seconds: float) -> None:
    own.used_at = time.monotonic() - seconds


def test_a_connection_ended_by_the_database_while_idle_is_replaced_before_use(engine, database_url):
    first = direct.execute(engine, _BACKEND, {}).scalar_one()
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            ended = connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            assert ended.scalar_one()
    finally:
        admin.dispose()
    own = direct.thread_connection(engine)
    deadline = time.monotonic() + 10
    while not has_input(own.connection):  # the backend's error and end arrive
        assert time.monotonic() < deadline
        time.sleep(0.01)
    _idle(own, PING_AFTER_IDLE + 0.1)
    assert direct.execute(engine, _BACKEND, {}).scalar_one() != first  # answered, on a new connection


def test_a_live_connection_idle_for_seconds_is_used_without_a_round_trip_first(engine):
    first = direct.execute(engine, _BACKEND, {}).scalar_one()
    own = direct.thread_connection(engine)
    pings = _pings(own)
    _idle(own, PING_ALWAYS_AFTER - 1)
    assert direct.execute(engine, _BACKEND, {}).scalar_one() == first
    assert pings == []
    _idle(own, PING_ALWAYS_AFTER)  # long enough for a firewall to have dropped it
    assert direct.execute(engine, _BACKEND, {}).scalar_one() == first
    assert pings == ["SELECT 1"]
