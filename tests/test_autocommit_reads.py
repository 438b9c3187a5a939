"""UserInfo and refresh run without a transaction of their own on PostgreSQL
(:mod:`idp.db.autocommit_reads`): no ``BEGIN`` and ``ROLLBACK``/``COMMIT`` round trips around
UserInfo's one ``SELECT``, or around a refresh's read and its one write (the claim of the token
and its successor); a reused refresh token's revocation, several writes, takes a transaction
again; and the pooled connection goes back to transactions for the next request."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from idp.db import db
from tests.oidc_support import basic, make_citizen, register, sign_in, tokens_for


@pytest.fixture
def postgresql(app):
    if not app.config["IDP"].database_url.startswith("postgresql"):
        pytest.skip("SQLite begins no transaction for a read: nothing to leave out")
    return app


def _autocommit_per_statement(app) -> tuple[list[tuple[str, bool]], callable]:
    seen: list[tuple[str, bool]] = []
    with app.app_context():
        engine = db.engine

    def record(connection, _cursor, statement, *_args):
        seen.append((statement.split()[0].upper(), connection.connection.dbapi_connection.autocommit))
    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def test_userinfo_reads_in_autocommit_and_the_pool_gets_transactions_back(postgresql):
    app = postgresql
    client_id, secret = register(app, scope="openid profile")
    browser = app.test_client()
    sign_in(app, browser, make_citizen(app))
    tokens = tokens_for(browser, client_id, secret, scope="openid profile")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    seen, stop = _autocommit_per_statement(app)
    try:
        for _ in range(2):
            answer = browser.get("/userinfo", headers=bearer)
            assert answer.status_code == 200 and answer.get_json()["sub"]
        userinfo = list(seen)
        seen.clear()
        # The next request through the same pool writes (the revocation and its audit event).
        revoke = browser.post("/revoke", data={"token": tokens["access_token"]},
                              headers=basic(client_id, secret))
        assert revoke.status_code == 200
    finally:
        stop()
    assert userinfo and all(autocommit for _, autocommit in userinfo)
    writes = [(verb, autocommit) for verb, autocommit in seen if verb in ("INSERT", "UPDATE", "DELETE")]
    assert writes and not any(autocommit for _, autocommit in writes)
    assert browser.get("/userinfo", headers=bearer).status_code == 401  # the revocation held


def _refresh(browser, client_id, secret, refresh_token):
    return browser.post("/token", headers=basic(client_id, secret),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_refresh_writes_one_statement_in_autocommit_and_reuse_revokes_in_a_transaction(postgresql):
    app = postgresql
    client_id, secret = register(app, scope="openid profile")
    browser = app.test_client()
    sign_in(app, browser, make_citizen(app))
    first = tokens_for(browser, client_id, secret, scope="openid profile")
    seen, stop = _autocommit_per_statement(app)
    try:
        second = _refresh(browser, client_id, secret, first["refresh_token"])
        assert second.status_code == 200 and second.get_json()["refresh_token"]
        refresh = list(seen)
        seen.clear()
        reuse = _refresh(browser, client_id, secret, first["refresh_token"])
        assert (reuse.status_code, reuse.get_json()["error"]) == (400, "invalid_grant")
    finally:
        stop()
    # The read, then one statement that claims the token and stores its successor; the audit
    # event goes through its own connection (the group commit), not this request's.
    assert [verb for verb, _ in refresh if verb != "SELECT"] == ["WITH"]
    assert all(autocommit for _, autocommit in refresh), refresh
    revocation = [(verb, autocommit) for verb, autocommit in seen if verb in ("UPDATE", "INSERT", "DELETE")]
    assert revocation and not any(autocommit for _, autocommit in revocation)
    after = _refresh(browser, client_id, secret, second.get_json()["refresh_token"])
    assert (after.status_code, after.get_json()["error"]) == (400, "invalid_grant")  # the family ended
