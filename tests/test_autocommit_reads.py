"""UserInfo reads without a transaction of its own on PostgreSQL (:mod:`idp.db.autocommit_reads`):
no ``BEGIN`` and ``ROLLBACK`` round trips around its one ``SELECT``, and the pooled connection
goes back to transactions for the next request, which may write."""

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
