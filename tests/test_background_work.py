"""The background work every server process does, busy or idle: every few seconds the polls of
the back-channel logout queue and the outbox (:func:`idp.db.work_queue.due_rows`) and the
expiry sweep of SSO sessions (:func:`idp.auth.sessions.expired_sessions`), each preceded by its
question whether there is anything to do (:func:`idp.db.work_queue.any_due`,
:func:`idp.oidc.logout.backchannel.is_due`), which is all an idle poll sends; every hour the purge
(:func:`idp.maintenance.purge.batch_query`). Their tables keep finished rows (delivered, sent,
ended, redeemed) for the retention window: at national scale millions of them, looked at by
every worker of every node. The database's work for finding nothing to do must not grow with
them.

The work is measured, not the plan read: on PostgreSQL the buffers the statement touched
(``EXPLAIN (ANALYZE, BUFFERS)`` of the very statement the poll sends), on SQLite the virtual
machine's instructions (a progress handler). Each test also measures a query that does walk the
table, so a probe that could not see a scan would fail."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, text

from idp.auth.models import SsoSession
from idp.auth.sessions import end_expired_sessions, expired_sessions, expiry_bounds
from idp.db import db
from idp.db.types import utcnow
from idp.db.work_queue import PollingWorker, any_due, claim_due, due_question, due_rows
from idp.maintenance.purge import PurgeContext, batch_query, purge, rules
from idp.notify.models import OutboxMessage
from idp.oidc.clients.registry import create_client
from idp.oidc.logout import backchannel
from idp.oidc.models import AuthorizationCode, LogoutDelivery, RefreshTokenFamily
from tests.factories import load_registry, make_citizen

#: Finished rows in each table: a few hundred pages, which a walk cannot hide.
FINISHED = 8000
#: Most work a poll may take: PostgreSQL buffers (a few index pages), or SQLite instructions
#: in hundreds. A walk of the finished rows costs ten times that and more.
AT_MOST = 16


def _work(query) -> int:
    """The database's work for ``query``: PostgreSQL's buffers, SQLite's instructions / 100."""
    connection = db.session.connection()  # Core execution: no ORM reading of the rows
    if connection.dialect.name == "postgresql":
        return _buffers(connection, query)
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    raw = connection.connection.driver_connection
    raw.set_progress_handler(count, 100)
    try:
        connection.execute(query).all()
    finally:
        raw.set_progress_handler(None, 100)
    return steps[0]


def _buffers(connection, query) -> int:
    """The buffers ``EXPLAIN (ANALYZE, BUFFERS)`` reports for the very statement (and
    parameters) SQLAlchemy sends for ``query``."""
    def explain(conn, cursor, statement, parameters, context, executemany):
        return "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters

    event.listen(connection, "before_cursor_execute", explain, retval=True)
    try:
        result = connection.execute(query)
    finally:
        event.remove(connection, "before_cursor_execute", explain)
    plan = result.cursor.fetchone()[0]  # the DB-API row: the plan, not the query's columns
    result.close()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top = plan[0]["Plan"]
    return top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


@pytest.fixture
def history(app):
    """A database whose queues, sessions, codes and refresh-token families hold FINISHED
    finished rows each (inside the retention window), and sessions in use that are not due;
    yields (citizen id, client pk)."""
    load_registry(app)
    citizen_id = make_citizen(app)
    with app.app_context():
        client, _ = create_client(name="Agency", redirect_uris=["https://rp.example/cb"],
                                  scope="openid", grant_types=["authorization_code"])
        db.session.commit()
        long_ago = utcnow() - timedelta(days=2)
        db.session.execute(insert(OutboxMessage), [
            {"channel": "sms", "recipient": "+84900000000", "kind": "contact_code", "language": "vi",
             "body": "Mã xác minh: 123456", "citizen_id": citizen_id, "message_id": f"m{n}",
             "status": "sent", "attempts": 1, "next_attempt_at": long_ago, "created_at": long_ago,
             "finished_at": long_ago} for n in range(FINISHED)])
        db.session.execute(insert(LogoutDelivery), [
            {"client_pk": client.id, "sid": f"s{n}", "citizen_id": citizen_id,
             "uri": "https://rp.example/logout", "jti": f"j{n}", "logout_token": "x" * 600,
             "token_expires_at": long_ago, "status": "delivered", "attempts": 1,
             "next_attempt_at": long_ago, "created_at": long_ago, "finished_at": long_ago}
            for n in range(FINISHED)])
        now = utcnow()
        db.session.execute(insert(SsoSession), [
            {"token_digest": f"{n:064x}", "sid": f"sid{n}", "citizen_id": citizen_id,
             "auth_time": now - timedelta(hours=1), "amr": ["pwd"], "acr": "1",
             "created_at": now - timedelta(hours=1),
             # Ended long ago (past both deadlines), or in use now (neither deadline near).
             "last_seen_at": long_ago if n % 2 else now,
             "expires_at": long_ago if n % 2 else now + timedelta(hours=8),
             "ended_at": long_ago if n % 2 else None, "end_reason": "logout" if n % 2 else None}
            for n in range(2 * FINISHED)])
        db.session.execute(insert(AuthorizationCode), [
            {"code_digest": f"{n:064x}", "client_pk": client.id, "citizen_id": citizen_id,
             "redirect_uri": "https://rp.example/cb", "scope": "openid", "auth_time": long_ago,
             "amr": ["pwd"], "created_at": long_ago, "expires_at": long_ago + timedelta(minutes=1),
             "used_at": long_ago, "access_jti": f"a{n}", "access_expires_at": long_ago}
            for n in range(FINISHED)])
        db.session.execute(insert(RefreshTokenFamily), [
            {"client_pk": client.id, "citizen_id": citizen_id, "scope": "openid",
             "auth_time": long_ago, "amr": ["pwd"], "created_at": long_ago} for _ in range(FINISHED)])
        db.session.commit()
        # The statistics a database in service has (PostgreSQL's autovacuum, SQLite's
        # PRAGMA optimize): the planner's choices depend on them.
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        yield citizen_id, client.id


@pytest.mark.parametrize("queue", [OutboxMessage, LogoutDelivery], ids=["outbox", "logout_queue"])
def test_queue_poll_reads_only_pending_rows_however_many_finished_rows_are_kept(app, history, queue):
    with app.app_context():
        now = utcnow()
        assert _work(due_rows(queue, now, 50)) <= AT_MOST
        # The question an idle poll asks instead of the pass reads no more, and says no.
        assert _work(due_question(queue).params(now=now)) <= AT_MOST
        db.session.rollback()
        assert any_due(queue, now) is False
        # The probe sees a walk: rows found by a column no index holds.
        assert _work(select(queue.id).where(queue.attempts == 99)) > 5 * AT_MOST
        db.session.rollback()
        # And the poll still finds what is due, the one pending row among the finished ones.
        citizen_id, client_pk = history
        row = {"status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        if queue is OutboxMessage:
            row |= {"channel": "email", "recipient": "an@example.vn", "kind": "contact_code",
                    "language": "vi", "body": "Mã: 654321", "citizen_id": citizen_id, "message_id": "due"}
        else:
            row |= {"client_pk": client_pk, "sid": "due", "citizen_id": citizen_id,
                    "uri": "https://rp.example/logout", "jti": "due", "logout_token": "t",
                    "token_expires_at": now + timedelta(minutes=2)}
        due_id = db.session.execute(insert(queue).returning(queue.id), row).scalar_one()
        db.session.commit()
        assert any_due(queue, utcnow()) is True
        if queue is LogoutDelivery:  # the logout sender asks one question for its two reads
            assert backchannel.is_due() is True
        assert claim_due(queue, 50, timedelta(minutes=1)) == [due_id]
        assert _work(due_rows(queue, utcnow(), 50)) <= AT_MOST  # its lease is not over
        assert any_due(queue, utcnow()) is False
        if queue is LogoutDelivery:
            assert backchannel.is_due() is False


def test_expiry_sweep_reads_only_sessions_due_however_many_are_kept(app, history):
    """Sessions in use and ended sessions, half and half: the sweep's two ranges are empty."""
    with app.app_context():
        assert _work(expired_sessions(utcnow(), 100)) <= AT_MOST
        # The logout sender's question, sessions and deliveries in one statement, reads no more.
        assert _work(backchannel.due_question().params(**expiry_bounds(utcnow()))) <= AT_MOST
        assert _work(select(SsoSession.id).where(SsoSession.acr == "none")) > 5 * AT_MOST
        db.session.rollback()
        assert backchannel.is_due() is False
        # One session in use falls idle: the sweep ends it, and only it.
        idle = db.session.scalars(select(SsoSession).where(SsoSession.ended_at.is_(None))
                                  .order_by(SsoSession.id).limit(1)).one()
        idle.last_seen_at = utcnow() - timedelta(seconds=app.config["IDP"].session_idle_ttl + 1)
        db.session.commit()
        assert backchannel.is_due() is True
        assert end_expired_sessions() == 1
        db.session.refresh(idle)
        assert idle.end_reason == "expired"
        assert _work(expired_sessions(utcnow(), 100)) <= AT_MOST
        assert backchannel.is_due() is False


def test_a_poll_runs_its_pass_only_when_its_question_finds_work(app):
    """An idle poll sends its question and nothing else; once the answer is yes, the pass runs
    within an interval."""
    passes, work = [], threading.Event()

    def run_once() -> int:
        passes.append(1)
        return 0  # nothing attempted: the next pass waits for the next poll

    worker = PollingWorker(app, "idp-test-queue", 0.02, run_once, due=work.is_set)
    worker.start()
    try:
        time.sleep(0.3)  # some fifteen polls
        assert passes == []
        work.set()
        deadline = time.monotonic() + 5
        while not passes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert passes
    finally:
        worker.stopped.set()
        worker.join(timeout=5)


@pytest.mark.parametrize("table", ["authorization_codes", "sso_sessions", "refresh_token_families"])
def test_purge_finds_nothing_to_delete_without_walking_the_rows_it_keeps(app, history, table):
    """Redeemed codes, ended sessions, families inside the retention window: kept, and on
    PostgreSQL, where every worker of every node purges, not read."""
    with app.app_context():
        rule = next(rule for rule in rules(app) if rule.name == table)
        context = PurgeContext(now=utcnow(), settings=app.config["IDP"])
        unindexed = rule.table.c["acr" if table == "sso_sessions" else "scope"]
        assert _work(select(rule.key).where(unindexed == "none")) > 5 * AT_MOST
        # (SQLite's planner reads ORDER BY id LIMIT in rowid order rather than as a union of
        # the OR's index ranges: a trial's one process walks these tables once an hour.)
        if db.engine.dialect.name == "postgresql":
            assert _work(batch_query(rule.key, rule.where(context), 1000)) <= AT_MOST
        db.session.rollback()
        # What is due still goes: one row past the window; and an ended session is kept for the
        # window after its end, however long ago it was last seen or it expired.
        citizen_id, client_pk = history
        now = utcnow()
        past = context.cutoff - timedelta(days=1)
        if table == "authorization_codes":  # never redeemed, past its expiry
            db.session.execute(insert(AuthorizationCode), {
                "code_digest": "f" * 64, "client_pk": client_pk, "citizen_id": citizen_id,
                "redirect_uri": "https://rp.example/cb", "scope": "openid", "auth_time": past,
                "amr": ["pwd"], "created_at": past, "expires_at": now - timedelta(minutes=5)})
        elif table == "sso_sessions":
            session = {"citizen_id": citizen_id, "auth_time": past, "amr": ["pwd"], "acr": "1",
                       "created_at": past, "last_seen_at": past, "expires_at": now + timedelta(hours=1)}
            db.session.execute(insert(SsoSession), [
                {**session, "token_digest": "e" * 64, "sid": "ended-long-ago", "ended_at": past},
                {**session, "token_digest": "d" * 64, "sid": "ended-yesterday",
                 "ended_at": now - timedelta(days=1)},
                {**session, "token_digest": "c" * 64, "sid": "ended-yesterday-expired-before",
                 "expires_at": past, "ended_at": now - timedelta(days=1)}])
        else:
            db.session.execute(insert(RefreshTokenFamily), {
                "client_pk": client_pk, "citizen_id": citizen_id, "scope": "openid",
                "auth_time": past, "amr": ["pwd"], "created_at": past, "revoked_at": past})
        db.session.commit()
        assert purge([rule], batch_size=1000) == {table: 1}
        if table == "sso_sessions":
            kept = db.session.scalars(select(SsoSession.sid).where(SsoSession.sid.like("ended-%"))).all()
            assert sorted(kept) == ["ended-yesterday", "ended-yesterday-expired-before"]
