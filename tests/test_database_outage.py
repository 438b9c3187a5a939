"""While PostgreSQL cannot be reached, every request that needs it answers 503 with Retry-After
(RFC 9110 §15.6.4): a readable page for a browser, OAuth-style JSON (``temporarily_unavailable``)
for an API caller, the token endpoint's fast path included; never a 500 or a traceback. And a
libpq multi-host URL (a primary and its standby, ``target_session_attrs=read-write``) works with
its first host down."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from idp import create_app
from idp.db import db
from tests.conftest import PG_URL
from tests.helpers import free_port
from tests.oidc_support import basic


@pytest.fixture
def unreachable(environ):
    """An app whose PostgreSQL is down (a closed loopback port), as after a crash or during a
    restart. Built without the start-up check, as a node running before the outage was."""
    application = create_app({**environ, "IDP_REDIS_URL": "",
                              "IDP_DATABASE_URL": f"postgresql+psycopg://idp@127.0.0.1:{free_port()}/idp"},
                             check_database=False)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def outage_log(caplog):
    caplog.set_level("WARNING", logger="idp.resilience.database_outage")
    return caplog


def test_a_browser_gets_a_readable_503_page_with_retry_after(unreachable, outage_log):
    client = unreachable.test_client()
    # A relying party sends the citizen to sign in: the client must be looked up.
    authorize = "/authorize?response_type=code&client_id=portal&scope=openid&redirect_uri=https://rp.example/cb"
    response = client.get(authorize, headers={"Accept": "text/html", "Accept-Language": "en"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert "briefly unavailable" in page and "Traceback" not in page
    vietnamese = client.get(authorize, headers={"Accept": "text/html", "Accept-Language": "vi"})
    assert "Dịch vụ tạm thời gián đoạn" in vietnamese.get_data(as_text=True)


def test_the_token_endpoint_answers_503_json_on_both_paths(unreachable, outage_log):
    client = unreachable.test_client()
    # client_credentials is answered by idp.fastpath; authorization_code goes through Flask.
    for data in ({"grant_type": "client_credentials"},
                 {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://rp.example/cb"}):
        response = client.post("/token", headers=basic("some-client", "some-secret"), data=data)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "5"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.get_json()["error"] == "temporarily_unavailable"
    # One line for the outage, not one per request; no traceback.
    lines = [r for r in outage_log.records if r.name == "idp.resilience.database_outage"]
    assert len(lines) <= 1 and all(r.exc_info is None for r in lines)
    assert not [r for r in outage_log.records if r.exc_info]


def test_readyz_takes_the_node_out_while_the_database_is_down(unreachable):
    response = unreachable.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"] == "unreachable"


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (IDP_TEST_DATABASE_URL; CI sets it)")
def test_a_multi_host_url_with_its_first_host_down_connects_to_the_read_write_one(environ, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a libpq multi-host URL is PostgreSQL's")
    # The shared test server stands for the primary; the first host is a closed port (a
    # standby that is down). libpq tries the hosts in order (target_session_attrs=read-write
    # would also skip a standby that is up but read-only).
    base, _, query = database_url.partition("?")
    primary = base.split("@", 1)[1].split("/", 1)[0]
    user = base.split("//", 1)[1].split("@", 1)[0]
    name = base.rsplit("/", 1)[1]
    url = (f"postgresql+psycopg://{user}@/{name}?host=127.0.0.1:{free_port()}&host={primary}"
           f"&target_session_attrs=read-write&{query}")
    application = create_app({**environ, "IDP_DATABASE_URL": url})  # the start-up check passes
    try:
        with application.app_context():
            assert db.session.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
        assert application.test_client().get("/readyz").get_json()["checks"]["database"] == "ok"
    finally:
        with application.app_context():
            db.engine.dispose()
