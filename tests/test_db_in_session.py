"""A request's statements on SQLite run straight on its session's connection, in its
transaction (idp.db.direct.in_session, through idp.db.autocommit.in_transaction): the values
convert both ways as through the session, the writes commit and roll back with the session's
own, a read sees the transaction's writes, and ORM changes not yet flushed are flushed first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select

from idp.db import autocommit, db, direct
from idp.oidc.models import Client, PendingAuthorization
from tests.oidc_support import register

_INSERT = PendingAuthorization.__table__.insert()
_BY_ID = select(PendingAuthorization.__table__).where(PendingAuthorization.id == bindparam("id"))
_CLIENT_NAME = select(Client.__table__.c.name).where(Client.__table__.c.id == bindparam("id"))


@pytest.fixture
def sqlite(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's statements go to the thread's own connection (tests/test_autocommit.py)")
    return app


def _row(app, pending_id: str) -> dict:
    client_id, _ = register(app)
    with app.app_context():
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client_id))
    created = datetime(2026, 12, 6, 21, 30, tzinfo=timezone(timedelta(hours=7)))
    return {"id": pending_id, "client_pk": client_pk, "created_at": created,
            "expires_at": created + timedelta(minutes=30),
            "params": {"scope": "openid", "login_hint": "Nguyễn Văn A"}}


def test_values_convert_both_ways_as_through_the_session(sqlite):
    row = _row(sqlite, "own")
    with sqlite.test_request_context():
        executed = []
        session = db.session()
        session_execute = session.execute
        session.execute = lambda *args, **kwargs: executed.append(args) or session_execute(*args, **kwargs)
        try:
            autocommit.commit_alone(_INSERT, row)
            own = autocommit.read(_BY_ID, {"id": "own"}).first()
        finally:
            del session.execute
        assert executed == []  # neither went through SQLAlchemy's execution
        with pytest.raises(ValueError, match="naive"):  # refused as the session refuses it
            autocommit.in_transaction(_INSERT, {**row, "id": "naive", "created_at": datetime(2026, 1, 1)})
        db.session.rollback()
    assert own.params == row["params"]
    assert own.created_at == row["created_at"] and own.created_at.utcoffset() == timedelta(0)
    with sqlite.app_context():
        through_session = db.session.get(PendingAuthorization, "own")
        assert (through_session.params, through_session.created_at, through_session.expires_at) == (
            own.params, own.created_at, own.expires_at)
        assert db.session.get(PendingAuthorization, "naive") is None


def test_writes_are_the_sessions_transaction_and_reads_see_them(sqlite):
    row = _row(sqlite, "rolled-back")
    with sqlite.test_request_context():
        autocommit.in_transaction(_INSERT, row)
        assert autocommit.in_transaction(_BY_ID, {"id": "rolled-back"}).first().id == "rolled-back"
        db.session.rollback()
        assert autocommit.in_transaction(_BY_ID, {"id": "rolled-back"}).first() is None
        autocommit.in_transaction(_INSERT, {**row, "id": "committed"})
        db.session.commit()
    with sqlite.app_context():
        assert db.session.get(PendingAuthorization, "rolled-back") is None
        assert db.session.get(PendingAuthorization, "committed") is not None


def test_orm_changes_not_flushed_yet_are_flushed_before_the_statement(sqlite):
    row = _row(sqlite, "unused")
    with sqlite.test_request_context():
        client = db.session.get(Client, row["client_pk"])
        client.name = "Renamed in the ORM"
        read = direct.in_session(db.session(), _CLIENT_NAME, {"id": client.id}).first()
        assert read.name == "Renamed in the ORM"
        db.session.rollback()
