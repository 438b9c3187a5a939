"""A token (or a sign-in) is never answered before its audit event is committed: when that
commit fails (a full disk, the database gone mid-commit), the client gets no token, on the
answer given before Flask (idp.fastpath, the audit group commit) and on Flask's."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from idp.audit.log import verify_chain
from idp.audit.models import AuditEvent
from idp.db import db
from idp.fastpath.authorization_code import AuthorizationCodeToken
from tests import oidc_support as oidc
from tests.factories import load_registry, make_citizen, sign_in
from tests.oidc_support import basic, register

pytest_plugins = ["tests.test_fast_token_paths"]  # its flask_calls and flask_only fixtures

CC = {"grant_type": "client_credentials"}


@pytest.fixture
def service(app):
    return register(app, grant_types=["client_credentials"], redirect_uris=[], scope="openid")


@pytest.fixture
def audit_commit_fails(app):
    """Every commit of a transaction that wrote an audit event fails, as a commit the database
    cannot make durable does; other commits go through."""
    with app.app_context():
        engine = db.engine

    def note_audit_write(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            connection.info["wrote_audit"] = True

    def fail_commit(connection):
        if connection.info.pop("wrote_audit", False):
            raise OSError("could not write to the write-ahead log: no space left on device")

    def forget(connection):
        connection.info.pop("wrote_audit", None)

    event.listen(engine, "before_cursor_execute", note_audit_write)
    event.listen(engine, "commit", fail_commit)
    event.listen(engine, "rollback", forget)
    yield
    event.remove(engine, "before_cursor_execute", note_audit_write)
    event.remove(engine, "commit", fail_commit)
    event.remove(engine, "rollback", forget)


def _issued_events(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.issued")).all())


def _assert_no_token(response) -> None:
    assert response.status_code >= 500, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert "access_token" not in body
    assert "eyJ" not in body  # no JWT of any kind in the answer


def test_fast_path_answers_no_token_when_its_audit_commit_fails(app, service, audit_commit_fails):
    client_id, secret = service
    response = app.test_client().post("/token", data=CC, headers=basic(client_id, secret))
    _assert_no_token(response)  # (the fast path's failure hands the request to Flask, which fails too)
    assert _issued_events(app) == 0


def test_flask_answers_no_token_when_its_audit_commit_fails(app, service, audit_commit_fails,
                                                            flask_only, flask_calls):
    client_id, secret = service
    response = flask_only().post("/token", data=CC, headers=basic(client_id, secret))
    _assert_no_token(response)
    assert flask_calls["oidc.token"] == 1
    assert _issued_events(app) == 0


def test_a_code_redeemed_before_flask_answers_no_token_when_its_audit_event_cannot_be_written(
        app, monkeypatch):
    """A sign-in's last request (a code with PKCE, redeemed before Flask:
    idp.fastpath.authorization_code): when the database refuses its ``token.issued`` event, the
    relying party gets no token, none is recorded as issued, and the code stays spent."""
    client_id, secret = register(app)
    citizen_id = oidc.make_citizen(app)
    browser = app.test_client()
    oidc.sign_in(app, browser, citizen_id)
    verifier, challenge = oidc.pkce_pair()
    code = oidc.code_for(browser, client_id, code_challenge=challenge,
                         code_challenge_method="S256")["code"]
    calls, answered = [], AuthorizationCodeToken.answer

    def counted(self, environ, form):
        calls.append(form["grant_type"])
        return answered(self, environ, form)

    monkeypatch.setattr(AuthorizationCodeToken, "answer", counted)
    _refuse_audit_inserts(app, True)
    _assert_no_token(oidc.exchange(browser, client_id, secret, code, verifier=verifier))
    _refuse_audit_inserts(app, False)
    assert calls == ["authorization_code"]  # the path before Flask took it first
    assert _issued_events(app) == 0
    again = oidc.exchange(browser, client_id, secret, code, verifier=verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_tokens_are_answered_again_once_the_audit_commits(app, service):
    client_id, secret = service
    response = app.test_client().post("/token", data=CC, headers=basic(client_id, secret))
    assert response.status_code == 200
    assert _issued_events(app) == 1


def _refuse_audit_inserts(app, refuse: bool) -> None:
    """The database itself refuses (or accepts again) every new audit event, as a disk that
    cannot take the write does: on PostgreSQL a constraint no row meets, on SQLite a trigger."""
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        if refuse:
            db.session.execute(db.text(
                "ALTER TABLE audit_events ADD CONSTRAINT refuse_all CHECK (id < 0) NOT VALID" if postgresql
                else "CREATE TRIGGER refuse_all BEFORE INSERT ON audit_events "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
        else:
            db.session.execute(db.text("ALTER TABLE audit_events DROP CONSTRAINT refuse_all" if postgresql
                                       else "DROP TRIGGER refuse_all"))
        db.session.commit()


def test_a_token_appended_at_the_known_head_is_not_answered_when_that_statement_fails(app, service):
    """After a first token the group commit appends on a connection of its own, outside
    SQLAlchemy: on PostgreSQL one autocommitted statement after the head it knows
    (idp.audit.log._append_at_tip), on SQLite one sqlite3 write transaction
    (idp.audit.log._append_sqlite). When the database refuses that write, no token either,
    and the chain stays whole."""
    client_id, secret = service
    client = app.test_client()
    assert client.post("/token", data=CC, headers=basic(client_id, secret)).status_code == 200
    group = app.extensions["idp.audit_group_commit"]
    assert group.tip is not None  # the head it wrote: PostgreSQL's next append goes after it
    _refuse_audit_inserts(app, True)
    _assert_no_token(client.post("/token", data=CC, headers=basic(client_id, secret)))
    assert _issued_events(app) == 1
    _refuse_audit_inserts(app, False)
    assert client.post("/token", data=CC, headers=basic(client_id, secret)).status_code == 200
    assert _issued_events(app) == 2
    with app.app_context():
        checked, problem = verify_chain()
    assert problem is None and checked >= 2


def test_a_sign_in_is_not_answered_when_its_audit_event_cannot_be_written(app):
    """The sign-in's event is group-committed right after the session's transaction
    (idp.auth.signin.complete_sign_in): when the database refuses it, the browser gets an error
    page and no session cookie, and the same sign-in goes through once the event can be written."""
    load_registry(app)
    make_citizen(app)
    browser = app.test_client()
    _refuse_audit_inserts(app, True)
    refused = sign_in(browser)
    assert refused.status_code >= 500
    assert "idp_session" not in " ".join(refused.headers.getlist("Set-Cookie"))
    assert "Location" not in refused.headers
    _refuse_audit_inserts(app, False)
    accepted = sign_in(browser)
    assert accepted.status_code == 303
    assert "idp_session" in " ".join(accepted.headers.getlist("Set-Cookie"))
    with app.app_context():
        signins = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signin")).all()
        assert [event.outcome for event in signins] == ["success"]
        assert verify_chain()[1] is None


def test_a_refresh_is_not_answered_when_its_audit_event_cannot_be_written(app):
    """A refresh (on PostgreSQL in autocommit, its rotation one statement: idp.db.autocommit)
    is answered only once its ``token.issued`` event is committed: when the database refuses
    the event, no token; the presented token was rotated meanwhile, so it now counts as reused,
    as one whose answer was lost would."""
    client_id, secret = register(app, scope="openid profile")
    browser = app.test_client()
    oidc.sign_in(app, browser, oidc.make_citizen(app))
    first = oidc.tokens_for(browser, client_id, secret, scope="openid profile")
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    issued = _issued_events(app)
    _refuse_audit_inserts(app, True)
    _assert_no_token(browser.post("/token", data=refresh, headers=basic(client_id, secret)))
    assert _issued_events(app) == issued
    _refuse_audit_inserts(app, False)
    again = browser.post("/token", data=refresh, headers=basic(client_id, secret))
    assert (again.status_code, again.get_json()["error"]) == (400, "invalid_grant")
    with app.app_context():
        assert verify_chain()[1] is None
