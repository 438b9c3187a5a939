"""Ids taken from a serial column's own sequence in blocks (idp.db.ids), for a row written with
the request's other writes: unique beside the rows the sequence's default numbers, one
statement per block, and a forked process never hands out its parent's block."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from idp.auth.models import SsoSession
from idp.db import db, direct, ids
from idp.db.types import utcnow
from tests.factories import load_registry, make_citizen


@pytest.fixture
def pg_app(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no sequences: its sessions are written alone, with their id returned")
    return app


def _session_row(citizen_id: int = 1) -> dict:
    now = utcnow()
    return {"token_digest": os.urandom(16).hex(), "sid": os.urandom(8).hex(), "citizen_id": citizen_id,
            "auth_time": now, "amr": ["pwd"], "acr": "1", "created_at": now, "last_seen_at": now,
            "expires_at": now}


def test_ids_from_blocks_never_meet_the_ids_the_sequence_default_gives(pg_app):
    load_registry(pg_app)
    citizen_id = make_citizen(pg_app)
    with pg_app.app_context():
        statements = []
        executed = direct.execute
        direct.execute = lambda *args: statements.append(args[1]) or executed(*args)
        try:
            taken = [ids.next_id(db.engine, "sso_sessions") for _ in range(ids.BLOCK + 1)]
        finally:
            direct.execute = executed
        assert len(statements) == 2  # a block, then the next one for the last id
        assert len(set(taken)) == len(taken)
        defaulted = db.session.scalar(sa.insert(SsoSession).values(**_session_row(citizen_id))
                                      .returning(SsoSession.id))
        db.session.execute(sa.insert(SsoSession).values(id=taken[0], **_session_row(citizen_id)))
        db.session.commit()
        assert defaulted not in taken
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SsoSession)) == 2


def test_a_forked_process_takes_a_block_of_its_own(pg_app):
    with pg_app.app_context():
        first = ids.next_id(db.engine, "sso_sessions")  # this process's block
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # the child: its own connections (as idp.server does after a fork)
            code = 1
            try:
                os.close(reading)
                db.engine.dispose(close=False)
                os.write(writing, str(ids.next_id(db.engine, "sso_sessions")).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(writing)
        with os.fdopen(reading) as answer:
            childs = int(answer.read())
        assert os.waitpid(child, 0)[1] == 0
        parents = [ids.next_id(db.engine, "sso_sessions") for _ in range(ids.BLOCK - 1)]
    assert childs not in [first, *parents]
