"""The audit log's hash chain as the code writes it: canonical hashing that reads back the same
from SQLite and PostgreSQL, no gaps on rollback, and no fork under concurrent writers."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from idp.audit.log import GENESIS, event_hash, head, record, verify_chain
from idp.audit.models import AuditEvent
from idp.db import db


def _run_together(workers: list[threading.Thread]) -> None:
    """Start every thread, then wait for each (two minutes at most)."""
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)


def test_an_event_with_unicode_nested_details_and_microseconds_verifies_after_a_round_trip(app):
    details = {
        "b": 1, "a": {"z": [1, 2.5, "Nguyễn"], "y": None}, "emoji": "🔐",
        "decomposed": "Nguye\u0302\u0303n", "unstorable": "x\x00\ud800y", 7: "int key",
        "when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "tuple": (1, 2),
    }
    with app.test_request_context("/", headers={"User-Agent": "Trình duyệt/1.0 (ü)"},
                                  environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        event = record("test.unicode", actor="admin:ngọc", client_id="rp-1", details=details,
                       commit=True)
        written_at, written_hash = event.at, event.hash
        db.session.remove()  # read back from the database, not from the identity map
        stored = db.session.get(AuditEvent, 1)
        assert stored.at == written_at and stored.at.microsecond == written_at.microsecond
        assert stored.hash == written_hash == event_hash(stored)
        assert stored.details["7"] == "int key" and stored.details["tuple"] == [1, 2]
        assert stored.details["unstorable"] == "x\ufffd\ufffdy"
        assert stored.details["decomposed"] == "Nguye\u0302\u0303n"  # kept as written
        assert stored.ip_address == "203.0.113.9"
        assert verify_chain() == (1, None)


def test_flat_details_store_sorted_and_verify_and_a_long_value_still_gets_the_exact_size_check(app):
    """Details of text, integers, booleans and None skip the serialise-and-parse: they must
    read back and hash as the full cleaning would have made them (keys sorted). A value whose
    worst-case JSON size passes the limit takes the exact check, which accepts it."""
    with app.app_context():
        flat = record("test.flat", details={"b": 1, "a": "Nguyễn", "d": True, "c": None}, commit=True)
        long = record("test.long", details={"blob": "x" * 700}, commit=True)
        flat_id, long_id = flat.id, long.id
        db.session.remove()
        stored = db.session.get(AuditEvent, flat_id)
        assert list(stored.details) == ["a", "b", "c", "d"]
        assert stored.details == {"a": "Nguyễn", "b": 1, "c": None, "d": True}
        assert stored.hash == event_hash(stored)
        assert db.session.get(AuditEvent, long_id).details == {"blob": "x" * 700}
        assert verify_chain() == (2, None)


def test_details_that_are_too_large_or_not_finite_are_refused_before_anything_is_written(app):
    with app.app_context():
        with pytest.raises(ValueError, match="larger than"):
            record("test.big", details={"blob": "x" * 10_000})
        with pytest.raises(ValueError):
            record("test.nan", details={"value": float("nan")})
        with pytest.raises(ValueError, match="action"):
            record("a" * 65)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_an_event_rolled_back_with_its_transaction_leaves_no_gap(app):
    with app.app_context():
        record("test.first", commit=True)
        record("test.rolled_back")
        db.session.rollback()
        record("test.second", commit=True)
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        assert ids == [1, 2]
        assert verify_chain() == (2, None)
        assert head() == (2, db.session.get(AuditEvent, 2).hash)


def test_the_first_event_links_to_the_genesis_hash(app):
    with app.app_context():
        event = record("test.first", commit=True)
        assert (event.id, event.prev_hash) == (1, GENESIS)


def test_concurrent_writers_never_fork_the_chain(app):
    """Eight threads, each its own database connection (as eight nodes would be), append 25
    events each, every one in its own transaction that reads first, as real callers do."""
    threads, per_thread, errors = 8, 25, []
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(per_thread):
                    db.session.execute(select(func.count()).select_from(AuditEvent))
                    record("test.concurrent", details={"thread": n, "i": i})
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    _run_together(workers)
    assert errors == []
    with app.app_context():
        assert verify_chain() == (threads * per_thread, None)
        prevs = db.session.scalars(select(AuditEvent.prev_hash)).all()
        assert len(set(prevs)) == len(prevs) == threads * per_thread  # nobody shares a parent


def test_a_missing_head_is_rebuilt_from_the_events_and_the_rebuild_is_itself_recorded(app):
    with app.app_context():
        for _ in range(3):
            record("test.event")
        db.session.commit()
        db.session.execute(db.text("DELETE FROM audit_chain_head"))
        db.session.commit()
        assert verify_chain()[1].event_id is None  # verify reports the missing head
        record("test.after", commit=True)
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[3:] == ["audit.head_rebuilt", "test.after"]
        # The rebuild is a problem until the operator accepts it: events at the end may be gone.
        checked, problem = verify_chain()
        assert (checked, problem.event_id) == (3, 4)
        assert "rebuilt from event 3" in problem.reason
        assert verify_chain(accepted_rebuilds=frozenset({4})) == (5, None)


def test_token_events_are_group_committed_each_before_its_answer_and_the_chain_holds(app):
    """idp.audit.log.record_after_commit: concurrent token requests share the chain head's lock
    and commit; every issued token has its event by the time its answer arrives, a refused
    request has none, and the chain verifies."""
    from tests.oidc_support import basic, register

    client_id, secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid")
    threads, per_thread, errors, jtis = 6, 8, [], []
    barrier = threading.Barrier(threads)

    def caller() -> None:
        try:
            client = app.test_client()
            barrier.wait()
            for _ in range(per_thread):
                answer = client.post("/token", data={"grant_type": "client_credentials"},
                                     headers=basic(client_id, secret))
                assert answer.status_code == 200, answer.get_data(as_text=True)
                jti = json.loads(base64.urlsafe_b64decode(
                    answer.get_json()["access_token"].split(".")[1] + "=="))["jti"]
                with app.app_context():  # the event is there as soon as the answer is
                    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                        AuditEvent.action == "token.issued",
                        AuditEvent.details["jti"].as_string() == jti)) == 1
                    db.session.remove()
                jtis.append(jti)
            refused = client.post("/token", data={"grant_type": "client_credentials"},
                                  headers=basic(client_id, "wrong"))
            assert refused.status_code == 401
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    _run_together(workers)
    assert errors == []
    with app.app_context():
        issued = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.issued")).all()
        assert sorted(e.details["jti"] for e in issued) == sorted(jtis)
        assert len(issued) == threads * per_thread
        assert all(e.client_id == client_id and e.actor == f"client:{client_id}" for e in issued)
        total = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert verify_chain() == (total, None)


def test_many_threads_sharing_one_group_commit_each_return_once_their_event_is_written(
        app, monkeypatch):
    """idp.audit.log._GroupCommit: 12 threads submit at once, again and again, through one
    committer (one worker's threads). Every submit returns (no waiter left behind when the
    leader hands over), only after its own event is committed, and a batch whose write fails
    raises in every thread that waited on it, not just in the leader's."""
    from idp.audit import log as audit_log

    with app.app_context():
        committer = audit_log._GroupCommit(db.engine)
    write = committer._write
    failing = {"left": 1}

    def write_or_fail(batch):
        if failing["left"] and len(batch) > 1:
            failing["left"] -= 1
            raise RuntimeError("the database refused the batch")
        write(batch)

    monkeypatch.setattr(committer, "_write", write_or_fail)
    threads, rounds = 12, 25
    barrier, returned, refused, errors = threading.Barrier(threads), [], [], []

    def submitter(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(rounds):
                    tag = f"{n}-{i}"
                    try:
                        committer.submit([audit_log._event_fields(
                            "test.grouped", "system", "success", None, "c", {"tag": tag})])
                    except RuntimeError:
                        refused.append(tag)
                        continue
                    # committed by the time submit returns: visible on another connection
                    with db.engine.connect() as other:
                        assert other.execute(select(func.count()).select_from(AuditEvent).where(
                            AuditEvent.details["tag"].as_string() == tag)).scalar() == 1
                    returned.append(tag)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=submitter, args=(n,)) for n in range(threads)]
    _run_together(workers)
    assert not any(worker.is_alive() for worker in workers), "a submit never returned"
    assert errors == []
    assert len(refused) >= 2 and len(returned) + len(refused) == threads * rounds
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert total == len(returned)  # a refused batch wrote nothing
        assert verify_chain() == (total, None)


def test_two_processes_group_committing_beside_request_transactions_never_fork_the_chain(app, monkeypatch):
    """Two group committers (as two nodes' processes) and plain ``record`` calls append at once.
    On PostgreSQL each committer appends after the head it last wrote in one statement, and
    falls back to the head's lock when another writer moved it: both ways are taken here, and
    the chain still has one event after each parent."""
    from idp.audit import log as audit_log

    outcomes = []
    append_at_tip = audit_log._append_at_tip

    def counted(*args):
        written = append_at_tip(*args)
        outcomes.append(written is not None)
        return written

    monkeypatch.setattr(audit_log, "_append_at_tip", counted)
    with app.app_context():
        committers = [audit_log._GroupCommit(db.engine), audit_log._GroupCommit(db.engine)]
    rounds, errors = 30, []
    barrier = threading.Barrier(3)

    def grouped(committer) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(rounds):
                    committer.submit([audit_log._event_fields("test.grouped", "system", "success",
                                                              None, "c", {"i": i, "note": "Đà Nẵng"})])
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    def plain() -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(rounds // 3):
                    record("test.plain", details={"i": i, "ratio": 1.0})
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=grouped, args=(c,)) for c in committers]
    workers.append(threading.Thread(target=plain))
    _run_together(workers)
    assert errors == []
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert total == 2 * rounds + rounds // 3
        assert verify_chain() == (total, None)
        prevs = db.session.scalars(select(AuditEvent.prev_hash)).all()
        assert len(set(prevs)) == len(prevs)
        if db.engine.dialect.name == "postgresql":
            assert True in outcomes and False in outcomes  # one statement, and the lock after a move
        else:
            assert outcomes == []  # SQLite's write lock is local: always the transaction
