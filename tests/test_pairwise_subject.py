"""Pairwise subject identifiers (OIDC Core §8.1) are recorded at the first authorization of a
sector, so a ``sub`` resolves back to its citizen (UserInfo, logout hints, token exchange). A
recorded pair never changes (the account's random uid dies with it), so a process reads it once
and remembers it (:func:`idp.oidc.subject.remember_subject`); what a rolled-back transaction
would have recorded is not remembered."""

from __future__ import annotations

from sqlalchemy import event, select

from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.clients.registry import find_client
from idp.oidc.models import SubjectIdentifier
from idp.oidc.subject import citizen_for_subject, remember_subject
from tests.oidc_support import make_citizen, register, sign_in, tokens_for


def _subject_reads(app):
    """Statements reading ``subject_identifiers`` for a recorded pair, as they run."""
    seen = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().startswith("SELECT subject_identifiers.id"):
            seen.append(statement)
    event.listen(engine, "before_cursor_execute", before)
    return seen


def _recorded(app):
    with app.app_context():
        return db.session.execute(select(SubjectIdentifier.sector, SubjectIdentifier.sub,
                                         SubjectIdentifier.citizen_id)).all()


def test_a_pairwise_sub_is_recorded_once_and_read_once_per_process(app):
    client_id, secret = register(app, subject_type="pairwise")
    citizen_id = make_citizen(app)
    browser = app.test_client()
    sign_in(app, browser, citizen_id)
    reads = _subject_reads(app)
    for _ in range(3):
        tokens_for(browser, client_id, secret)
    recorded = _recorded(app)
    assert len(recorded) == 1 and recorded[0].citizen_id == citizen_id
    # The first authorization reads (nothing) and records; the second reads it committed and
    # remembers it; the third reads nothing.
    assert len(reads) == 2
    with app.app_context():
        assert citizen_for_subject(find_client(client_id), recorded[0].sub).id == citizen_id


def test_a_record_rolled_back_is_not_remembered_and_is_made_again(app):
    client_id, _ = register(app, subject_type="pairwise")
    citizen_id = make_citizen(app)
    with app.app_context():
        citizen, client = db.session.get(Citizen, citizen_id), find_client(client_id)
        sub = remember_subject(citizen, client)
        db.session.rollback()
        assert _recorded(app) == []
        assert remember_subject(citizen, client) == sub  # read again: not there, recorded again
        db.session.commit()
    assert [row.sub for row in _recorded(app)] == [sub]
