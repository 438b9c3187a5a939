"""``idp audit verify | tail | export`` as an operator runs them: tampering of every kind is
detected and the first bad event named; a clean chain verifies; the export is independently
checkable."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select, text

from idp.audit.log import HEAD, event_hash, record
from idp.audit.models import AuditEvent
from idp.db import db
from tests.helpers import run_idp

EVENTS = 120  # the SQL below names ids relative to it


@pytest.fixture
def chain(app):
    """A clean chain of 120 events written in several transactions."""
    with app.app_context():
        for i in range(EVENTS):
            record("test.event", citizen_id=(i % 7) or None, client_id="rp-demo",
                   details={"n": i, "tên": "sự kiện"})
            if i % 10 == 9:
                db.session.commit()
        db.session.commit()
    return app


def _sql(app, statement: str, **params) -> None:
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


def _verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def _rewrite_from(app, first: int, *, action: str) -> None:
    """What an attacker with full write access does: change event ``first`` and recompute
    every hash after it and the head, so the chain is consistent again."""
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        prev = rows[first - 2].hash if first > 1 else "0" * 64
        for row in rows[first - 1:]:
            if row.id == first:
                row.action = action
            row.prev_hash = prev
            row.hash = prev = event_hash(row)
        db.session.flush()
        db.session.execute(HEAD.update().values(last_id=rows[-1].id, last_hash=prev))
        db.session.commit()


def test_a_clean_chain_of_120_events_verifies_with_exit_0_and_prints_an_anchor(chain):
    result = _verify(chain)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"audit chain OK: {EVENTS} events verified"
    with chain.app_context():
        last = db.session.get(AuditEvent, EVENTS)
    assert lines[1] == f"anchor: {EVENTS}:{last.hash}"


def test_an_empty_log_verifies(app):
    result = _verify(app)
    assert result.exit_code == 0
    assert result.stdout.strip() == "audit chain OK: 0 events verified"


TAMPERING = {
    "a row's content changed": (
        ["UPDATE audit_events SET action = 'citizen.deleted' WHERE id = 57"],
        57, "content was changed after it was written"),
    "a row's details changed": (
        ["UPDATE audit_events SET citizen_id = 999 WHERE id = 3"],
        3, "content was changed after it was written"),
    "a middle row deleted": (
        ["DELETE FROM audit_events WHERE id = 57"],
        57, "is missing (deleted): the next event present is 58"),
    "the last row deleted": (
        ["DELETE FROM audit_events WHERE id = 120"],
        EVENTS, f"the chain head says the chain ends at event {EVENTS}, the last event present "
        f"is {EVENTS - 1}"),
    "the last three rows deleted": (
        ["DELETE FROM audit_events WHERE id > 117"],
        EVENTS - 2, "is missing (deleted)"),
    "two rows swapped (ids exchanged)": (
        ["UPDATE audit_events SET id = -57 WHERE id = 57",
         "UPDATE audit_events SET id = 57 WHERE id = 58",
         "UPDATE audit_events SET id = 58 WHERE id = -57"],
        57, "content was changed after it was written (or the row was moved"),
    "the first row deleted": (
        ["DELETE FROM audit_events WHERE id = 1"],
        1, "is missing (deleted): the next event present is 2"),
    "the chain head deleted": (
        ["DELETE FROM audit_chain_head"],
        None, "the chain head record is missing"),
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
def test_tampering_is_detected_and_the_first_bad_event_named(chain, case):
    statements, bad_id, reason = TAMPERING[case]
    for statement in statements:
        _sql(chain, statement)
    result = _verify(chain)
    assert result.exit_code == 1
    where = f"event {bad_id}" if bad_id is not None else "chain head"
    assert result.stderr.startswith(f"audit chain BROKEN at {where}: "), result.stderr
    assert reason in result.stderr
    assert result.stdout == ""


def test_a_row_changed_and_rehashed_breaks_the_link_of_the_next_row(chain):
    with chain.app_context():
        event = db.session.get(AuditEvent, 57)
        event.action = "citizen.deleted"
        event.hash = event_hash(event)
        db.session.commit()
    result = _verify(chain)
    assert result.exit_code == 1
    assert result.stderr.startswith("audit chain BROKEN at event 58: does not follow event 57")


def test_an_event_appended_behind_the_logs_back_is_named(chain):
    with chain.app_context():
        last = db.session.get(AuditEvent, EVENTS)
        forged = AuditEvent(id=EVENTS + 1, at=last.at, action="test.forged", outcome="success",
                            actor="system", details={}, prev_hash=last.hash)
        forged.hash = event_hash(forged)
        db.session.add(forged)
        db.session.commit()
    result = _verify(chain)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"audit chain BROKEN at event {EVENTS + 1}: is not recorded "
                                    "in the chain head")


def test_a_consistent_rewrite_is_caught_only_by_an_anchor_kept_outside_the_database(chain):
    anchor = _verify(chain).stdout.splitlines()[1].removeprefix("anchor: ")
    _rewrite_from(chain, 10, action="citizen.deleted")
    assert _verify(chain).exit_code == 0  # the limit the README explains
    result = _verify(chain, "--anchor", anchor)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"audit chain BROKEN at event {EVENTS}: does not match the anchor")


def test_a_truncation_with_the_head_moved_back_is_caught_by_the_anchor(chain):
    anchor = _verify(chain).stdout.splitlines()[1].removeprefix("anchor: ")
    with chain.app_context():
        kept = db.session.get(AuditEvent, EVENTS - 5)
        db.session.execute(text("DELETE FROM audit_events WHERE id > 115"))
        db.session.execute(HEAD.update().values(last_id=kept.id, last_hash=kept.hash))
        db.session.commit()
    assert _verify(chain).exit_code == 0
    result = _verify(chain, "--anchor", anchor)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"audit chain BROKEN at event {EVENTS}: is missing")


def test_a_truncation_with_the_head_deleted_then_rebuilt_by_the_next_writer_fails_verify(chain):
    """Deleting the last events and the head row leaves a chain that ends cleanly; the next
    event written through the normal API rebuilds the head from the surviving tail. Verify
    must fail there and say where, with or without the anchor saved before."""
    anchor = _verify(chain).stdout.splitlines()[1].removeprefix("anchor: ")
    _sql(chain, "DELETE FROM audit_events WHERE id > 115")
    _sql(chain, "DELETE FROM audit_chain_head")
    with chain.app_context():
        for _ in range(6):  # enough for the ids to pass the anchor's again
            record("test.after", commit=True)
    result = _verify(chain)
    assert result.exit_code == 1
    assert result.stderr.startswith("audit chain BROKEN at event 116: records that the chain head "
                                    "was missing and was rebuilt from event 115: events after 115 "
                                    "may have been deleted")
    assert "(115 events verified before it)" in result.stderr
    assert _verify(chain, "--anchor", anchor).exit_code == 1
    # Once investigated, the operator names the rebuild; the anchor still shows the deletion.
    assert _verify(chain, "--accept-rebuild", "116").exit_code == 0
    rewritten = _verify(chain, "--accept-rebuild", "116", "--anchor", anchor)
    assert rewritten.exit_code == 1
    assert rewritten.stderr.startswith(f"audit chain BROKEN at event {EVENTS}: does not match the anchor")


def test_a_malformed_anchor_is_a_usage_error(chain):
    result = _verify(chain, "--anchor", "57:not-a-hash")
    assert result.exit_code == 2
    assert "EVENT_ID:SHA256_HEX" in result.stderr


def test_tail_shows_the_newest_events_oldest_first(chain):
    result = chain.test_cli_runner().invoke(args=["audit", "tail", "-n", "3"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [EVENTS - 2, EVENTS - 1, EVENTS]
    assert "test.event" in lines[0] and "client=rp-demo" in lines[0] and "sự kiện" in lines[0]


def test_tail_json_is_one_object_per_line_with_hashes(chain):
    result = chain.test_cli_runner().invoke(args=["audit", "tail", "-n", "2", "--json"])
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["id"] for e in events] == [EVENTS - 1, EVENTS]
    assert events[1]["prev_hash"] == events[0]["hash"]
    assert events[0]["details"]["tên"] == "sự kiện"


def test_export_is_json_lines_that_a_siem_can_verify_without_the_database(chain, tmp_path):
    out = tmp_path / "audit.jsonl"
    result = chain.test_cli_runner().invoke(args=["audit", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [e["id"] for e in events] == list(range(1, EVENTS + 1))
    prev = "0" * 64
    for event in events:
        event["at"] = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        assert event["prev_hash"] == prev and event_hash(event) == event["hash"]
        prev = event["hash"]


def test_export_after_an_id_and_since_a_time_selects_only_newer_events(chain):
    runner = chain.test_cli_runner()
    after = runner.invoke(args=["audit", "export", "--after-id", "115"])
    assert [json.loads(line)["id"] for line in after.stdout.splitlines()] == [116, 117, 118, 119, 120]
    with chain.app_context():
        at_100 = db.session.get(AuditEvent, 100).at
    since = runner.invoke(args=["audit", "export", "--since", at_100.isoformat()])
    ids = [json.loads(line)["id"] for line in since.stdout.splitlines()]
    assert ids and ids[0] <= 100 and ids[-1] == EVENTS
    future = runner.invoke(args=["audit", "export", "--since", "2999-01-01"])
    assert future.exit_code == 0 and future.stdout == ""


def test_export_refuses_a_malformed_time(chain):
    result = chain.test_cli_runner().invoke(args=["audit", "export", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "is not an ISO 8601 date" in result.stderr


def test_every_audit_command_help_has_an_example(app):
    runner = app.test_cli_runner()
    for command in ([], ["tail"], ["verify"], ["export"]):
        result = runner.invoke(args=["audit", *command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout and "idp audit" in result.stdout


# -- the installed console script, as an operator runs it ------------------------------------------


def test_the_idp_command_verifies_a_clean_chain_then_names_a_deleted_row(chain, environ):
    clean = run_idp(["audit", "verify"], environ)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith(f"audit chain OK: {EVENTS} events verified\nanchor: {EVENTS}:")
    _sql(chain, "DELETE FROM audit_events WHERE id = 33")
    broken = run_idp(["audit", "verify"], environ)
    assert broken.returncode == 1
    assert broken.stderr.strip() == ("audit chain BROKEN at event 33: is missing (deleted): the "
                                     "next event present is 34 (32 events verified before it)")
