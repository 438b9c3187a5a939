"""Requests without a transaction of their own on PostgreSQL: UserInfo reads on the thread's
own autocommit connection (:mod:`idp.db.single_read`), no pooled connection, no ``BEGIN`` or
``ROLLBACK``; a refresh runs in autocommit (:mod:`idp.db.autocommit`), its read and its one
write (the claim of the token and its successor) without ``BEGIN`` and ``COMMIT``, and so does
a code redemption (its read, then the claim with the family and its first token); a sign-in's
and a redemption's statements run on the thread's own connection (:mod:`idp.db.direct`),
converted both ways as through the session; a reused refresh token's or code's revocation,
several writes, takes a transaction again; and the pooled connection goes back to
transactions for the next request."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Float, Numeric, bindparam, cast, event, select

from idp.audit.models import AuditEvent
from idp.auth.models import SessionClient, SsoSession
from idp.db import autocommit, db, direct
from idp.oidc.models import Client, PendingAuthorization
from tests.factories import AN, PASSWORD, load_registry
from tests.factories import make_citizen as make_factory_citizen
from tests.oidc_support import (
    authorize,
    basic,
    code_for,
    consent_and_code,
    exchange,
    form_action,
    listening_client_cache,
    make_citizen,
    redirect_params,
    register,
    sign_in,
    sign_in_page_resume,
    tokens_for,
)


@pytest.fixture
def postgresql(app):
    if not app.config["IDP"].database_url.startswith("postgresql"):
        pytest.skip("SQLite begins no transaction for a read: nothing to leave out")
    return app


_COUNTERS = "login_failure_counters"


def _autocommit_per_statement(app, table: str | None = None, *, own: bool = True,
                              ) -> tuple[list[tuple[str, bool]], callable]:
    """The verb of every statement of the app's requests and whether it ran in autocommit: on
    the pool, and with ``own`` on the thread's own connection (:func:`idp.db.direct.execute`,
    always autocommit); those on ``table`` when given, else all but the lockout counters' own
    (with Redis, its fallback reads them on connections of its own)."""
    seen: list[tuple[str, bool]] = []
    with app.app_context():
        engine = db.engine

    def wanted(statement: str) -> bool:
        return (table in statement) if table else (_COUNTERS not in statement)

    def record(connection, _cursor, statement, *_args):
        if wanted(statement):
            seen.append((statement.split()[0].upper(), connection.connection.dbapi_connection.autocommit))

    def on_own_connection(bind, statement, params):
        text = str(statement.compile(dialect=bind.dialect, column_keys=list(params)))
        if wanted(text):
            seen.append((text.split()[0].upper(), True))
        return executed(bind, statement, params)

    event.listen(engine, "before_cursor_execute", record)
    executed = direct.execute
    if own:
        direct.execute = on_own_connection

    def stop():
        event.remove(engine, "before_cursor_execute", record)
        direct.execute = executed
    return seen, stop


@pytest.fixture
def signed_in(postgresql):
    """(app, browser, client id, secret, first token response) of a signed-in citizen."""
    client_id, secret = register(postgresql, scope="openid profile")
    browser = postgresql.test_client()
    sign_in(postgresql, browser, make_citizen(postgresql))
    return postgresql, browser, client_id, secret, tokens_for(browser, client_id, secret,
                                                                scope="openid profile")


def test_userinfo_reads_outside_the_pool_and_sees_a_revocation_committed_through_it(signed_in):
    app, browser, client_id, secret, tokens = signed_in
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    cache = listening_client_cache(app)
    seen, stop = _autocommit_per_statement(app, own=False)
    try:
        assert browser.get("/userinfo", headers=bearer).status_code == 200  # the cache fills
        seen.clear()
        for _ in range(2):
            answer = browser.get("/userinfo", headers=bearer)
            assert answer.status_code == 200 and answer.get_json()["sub"] and answer.get_json()["name"]
        userinfo = list(seen)
        seen.clear()
        # The next request through the same pool writes (the revocation and its audit event).
        revoke = browser.post("/revoke", data={"token": tokens["access_token"]},
                              headers=basic(client_id, secret))
        assert revoke.status_code == 200
    finally:
        stop()
        cache.stop()
    assert userinfo == []  # nothing on the pool: the client and the token's standing cached,
    # the citizen read on the thread's own connection
    writes = [(verb, autocommit) for verb, autocommit in seen if verb in ("INSERT", "UPDATE", "DELETE")]
    assert writes and not any(autocommit for _, autocommit in writes)
    assert browser.get("/userinfo", headers=bearer).status_code == 401  # the revocation held


def _refresh(browser, client_id, secret, refresh_token):
    return browser.post("/token", headers=basic(client_id, secret),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _used_twice(app, use):
    """``use()`` twice, each time recording the statements (first answer, its statements,
    second answer, its statements)."""
    seen, stop = _autocommit_per_statement(app)
    try:
        first = use()
        first_statements = list(seen)
        seen.clear()
        second = use()
        second_statements = list(seen)
    finally:
        stop()
    return first, first_statements, second, second_statements


def _one_write_alone_then_revocation_in_a_transaction(first, second) -> None:
    """The read, then one statement (``WITH ... INSERT``) in autocommit; the audit event goes
    through its own connection (the group commit), not the request's. The reuse's revocation,
    several writes, in a transaction."""
    assert [verb for verb, _ in first if verb != "SELECT"] == ["WITH"]
    assert all(autocommit for _, autocommit in first), first
    revocation = [(verb, autocommit) for verb, autocommit in second if verb in ("UPDATE", "INSERT", "DELETE")]
    assert revocation and not any(autocommit for _, autocommit in revocation)


def test_refresh_writes_one_statement_in_autocommit_and_reuse_revokes_in_a_transaction(signed_in):
    app, browser, client_id, secret, first = signed_in
    second, refresh, reuse, revocation = _used_twice(
        app, lambda: _refresh(browser, client_id, secret, first["refresh_token"]))
    assert second.status_code == 200 and second.get_json()["refresh_token"]
    assert (reuse.status_code, reuse.get_json()["error"]) == (400, "invalid_grant")
    # The claim of the presented token and its successor's INSERT are the one statement.
    _one_write_alone_then_revocation_in_a_transaction(refresh, revocation)
    after = _refresh(browser, client_id, secret, second.get_json()["refresh_token"])
    assert (after.status_code, after.get_json()["error"]) == (400, "invalid_grant")  # the family ended


def test_code_redemption_reads_then_claims_and_stores_in_one_statement_in_autocommit(signed_in):
    app, browser, client_id, secret, _ = signed_in
    code = code_for(browser, client_id, scope="openid profile")["code"]
    redeemed, redemption, again, revocation = _used_twice(
        app, lambda: exchange(browser, client_id, secret, code))
    assert redeemed.status_code == 200 and redeemed.get_json()["refresh_token"]
    assert (again.status_code, again.get_json()["error"]) == (400, "invalid_grant")
    # The claim of the code, its family and the family's first token are the one statement.
    _one_write_alone_then_revocation_in_a_transaction(redemption, revocation)
    refreshed = browser.post("/token", headers=basic(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": redeemed.get_json()["refresh_token"]})
    assert (refreshed.status_code, refreshed.get_json()["error"]) == (400, "invalid_grant")


def _recorded_with_cache(app, prepare, action):
    """``prepare()``, then ``action()``'s answer and the statements it ran (as
    :func:`_autocommit_per_statement`), with the client cache listening throughout."""
    cache = listening_client_cache(app)
    try:
        prepare()
        seen, stop = _autocommit_per_statement(app)
        try:
            return action(), seen
        finally:
            stop()
    finally:
        cache.stop()


def test_a_stored_authorization_request_is_one_insert_in_autocommit(postgresql):
    """A browser without a session: the authorization request is stored for the sign-in page
    with its one INSERT, no BEGIN and COMMIT around it (the client from the client cache),
    and the row is there for the sign-in that resumes it, on any connection."""
    client_id, _ = register(postgresql, scope="openid profile")
    browser = postgresql.test_client()
    to_login, seen = _recorded_with_cache(
        postgresql, lambda: authorize(browser, client_id),  # the cache fills
        lambda: authorize(browser, client_id))
    assert seen == [("INSERT", True)]
    pending_id = sign_in_page_resume(to_login).removeprefix("/authorize/continue/")
    with postgresql.app_context():
        assert db.session.get(PendingAuthorization, pending_id) is not None


def _password_sign_in(browser, client_id: str, password: str = PASSWORD):
    """GET /authorize (answered with the sign-in page), then its form posted."""
    page = authorize(browser, client_id, scope="openid profile")
    html = page.get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return browser.post(form_action(html), data={"csrf_token": token, "username": AN["identifier"],
                                                 "password": password})


def test_a_password_sign_in_answered_with_the_code_writes_in_autocommit_and_the_code_in_one_statement(
        postgresql):
    """POST /login with the consent remembered: the account read, the request and the consent
    read in one statement, then the session, the code, the relying party joining the session
    and the stored request's deletion as one ``WITH`` statement (idp.db.together; the session's
    id from its sequence, taken in blocks by idp.db.ids), each its own transaction: no BEGIN
    and COMMIT, and none held open while the password is hashed. The code redeems, the request
    is gone, the session knows the relying party (logout reaches it) and signs the browser in
    at the next authorization. The first sign-in, answered with the consent page, stores its
    session alone all the same."""
    load_registry(postgresql)
    citizen_id = make_factory_citizen(postgresql)
    client_id, secret = register(postgresql, scope="openid profile")
    first, browser = postgresql.test_client(), postgresql.test_client()
    answered, seen = _recorded_with_cache(
        postgresql,  # the first time, the consent page
        lambda: consent_and_code(first, first.get(_password_sign_in(first, client_id).headers["Location"])),
        lambda: _password_sign_in(browser, client_id))
    code = redirect_params(answered)["code"]
    login = [verb for verb, _ in seen[1:]]  # after the stored request's INSERT
    # The account; the request with the consent to its client; the pairwise subject (read once
    # per process, then remembered); the session's and the code's writes.
    assert login == ["SELECT", "SELECT", "SELECT", "WITH"], seen
    assert all(autocommit for _, autocommit in seen), seen
    assert exchange(browser, client_id, secret, code).status_code == 200
    again = authorize(browser, client_id, scope="openid profile")  # the session's cookie: no password
    assert again.status_code == 302 and redirect_params(again)["code"]
    with postgresql.app_context():
        assert db.session.query(PendingAuthorization).count() == 0
        joined = db.session.scalars(select(SessionClient).join(SsoSession).where(
            SsoSession.citizen_id == citizen_id, SsoSession.ended_at.is_(None))).all()
        assert len(joined) == 2  # both sign-ins' sessions joined the relying party


def test_a_refused_password_records_its_audit_event_in_a_transaction(postgresql):
    """The refusal's audit event (several statements on the chain's head) is not split over
    autocommit statements: :func:`idp.audit.log.record` takes a transaction again first."""
    load_registry(postgresql)
    make_factory_citizen(postgresql)
    client_id, _ = register(postgresql, scope="openid profile")
    seen, stop = _autocommit_per_statement(postgresql)
    try:
        refused = _password_sign_in(postgresql.test_client(), client_id, password="not the password")
    finally:
        stop()
    assert refused.status_code == 422
    writes = [(verb, autocommit) for verb, autocommit in seen[1:] if verb in ("INSERT", "UPDATE")]
    assert writes and not any(autocommit for _, autocommit in writes), seen
    with postgresql.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (event.action, event.outcome) == ("signin", "failure")


def test_with_redis_the_lockout_read_is_off_the_pool_and_the_reset_one_autocommit_statement(
        postgresql):
    """With Redis up, every sign-in still reads its account's row in ``login_failure_counters``
    (a lock taken during a Redis outage must hold: tests/test_faults_redis.py) and a success
    deletes it. The read is the request's one-statement read on the thread's own connection
    (idp.db.single_read), nothing on the pool; the reset one statement in autocommit, not
    BEGIN, DELETE and COMMIT."""
    if not postgresql.config["IDP"].redis_url:
        pytest.skip("the counters' table is read beside Redis only (IDP_TEST_REDIS_URL)")
    load_registry(postgresql)
    make_factory_citizen(postgresql)
    client_id, _ = register(postgresql, scope="openid profile")
    counters, stop = _autocommit_per_statement(postgresql, _COUNTERS)
    try:
        signed_in = _password_sign_in(postgresql.test_client(), client_id)
    finally:
        stop()
    assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[:300]
    assert counters == [("DELETE", True)]


def test_a_statement_on_the_threads_own_connection_converts_values_as_the_session_does(postgresql):
    """:func:`idp.db.direct.execute` applies the column types' conversions both ways: a
    timestamp given in another zone is stored as the instant it is and read back in UTC (on a
    connection whose session time zone is Hanoi's, where psycopg alone would hand it back in
    +07:00), JSON (Vietnamese text in it) round-trips, a naive timestamp is refused as the
    session refuses it, and the row reads the same through the session."""
    client_id, _ = register(postgresql)
    hanoi = timezone(timedelta(hours=7))
    created = datetime(2026, 12, 6, 21, 30, tzinfo=hanoi)
    params = {"scope": "openid", "ui_locales": "vi", "login_hint": "Nguyễn Văn A"}
    insert, by_id = PendingAuthorization.__table__.insert(), select(PendingAuthorization.__table__).where(
        PendingAuthorization.id == bindparam("id"))
    with postgresql.app_context():
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client_id))
    row = {"id": "own", "client_pk": client_pk, "params": params, "created_at": created,
           "expires_at": created + timedelta(minutes=30)}
    on_pool, stop = _autocommit_per_statement(postgresql, own=False)
    try:
        with postgresql.test_request_context():
            autocommit.statements_commit_alone()
            autocommit.commit_alone(insert, row)
            with pytest.raises(ValueError, match="naive"):
                autocommit.commit_alone(insert, {**row, "id": "naive",
                                                 "created_at": created.replace(tzinfo=None)})
            own_connection = direct.thread_connection(db.engine)
            zone = own_connection.execute("SELECT set_config('TimeZone', 'Asia/Ho_Chi_Minh', false)", {})
            assert zone.fetchone()[0] == "Asia/Ho_Chi_Minh"
            try:
                own = autocommit.read(by_id, {"id": "own"}).first()
            finally:
                own_connection.execute("SELECT set_config('TimeZone', 'UTC', false)", {}).fetchone()
    finally:
        stop()
    assert on_pool == []  # all on the thread's own connection
    assert own.params == params
    assert own.created_at == created and own.created_at.utcoffset() == timedelta(0)
    assert own.created_at.hour == 14  # 21:30 in Hanoi
    with postgresql.app_context():
        through_session = db.session.get(PendingAuthorization, "own")
        assert (through_session.params, through_session.created_at, through_session.expires_at) == (
            own.params, own.created_at, own.expires_at)
        assert db.session.get(PendingAuthorization, "naive") is None


def test_a_numeric_read_on_the_threads_own_connection_converts_as_the_session_does(postgresql):
    """A column's conversion may depend on the database's type of the column (psycopg's
    numerics: SQLAlchemy passes the result's type code), so :func:`idp.db.direct.execute`
    takes it from the result's description, as SQLAlchemy's result does: the value reads the
    same on the thread's own connection as through the session, not an error."""
    statement = select(cast(bindparam("amount", type_=Numeric(6, 2)), Numeric(6, 2)).label("amount"),
                       bindparam("half", type_=Float).label("half"))
    with postgresql.test_request_context():
        own = direct.execute(db.engine, statement, {"amount": Decimal("12.50"), "half": 0.5}).first()
        through_session = db.session.execute(statement, {"amount": Decimal("12.50"), "half": 0.5}).one()
    assert tuple(own) == tuple(through_session) == (Decimal("12.50"), 0.5)
    assert type(own.amount) is Decimal and type(own.half) is float
