"""Servers that accept the connection and never answer (the hanging dependency), each with its
time budget: a relying party's ``jwks_uri`` makes the client's token request a clean
``invalid_client`` within JWKS_FETCH_TIMEOUT; a ``backchannel_logout_uri`` never delays the
citizen's logout (the delivery is queued) and costs the sender at most IDP_BACKCHANNEL_TIMEOUT
per attempt; an SMTP server that never sends its greeting costs the outbox sender at most
IDP_NOTIFY_TIMEOUT, the message then waiting for its retry. Requests never wait on the last two:
they are sent by background workers."""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import select

from idp import create_app
from idp.db import db
from idp.notify import outbox
from idp.notify.models import OutboxMessage
from idp.oidc.clients import authentication as client_auth
from idp.oidc.logout import backchannel as backchannel_logout
from idp.oidc.models import LogoutDelivery
from tests.admin_support import idp_json
from tests.faults_support import SilentServer
from tests.oidc_support import ISSUER, register, sign_in, tokens_for
from tests.schema import create_tables

BACKCHANNEL_TIMEOUT = 2
NOTIFY_TIMEOUT = 2


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_BACKCHANNEL_TIMEOUT": str(BACKCHANNEL_TIMEOUT),
            "IDP_NOTIFY_TIMEOUT": str(NOTIFY_TIMEOUT)}


@pytest.fixture
def silent():
    server = SilentServer()
    client_auth.jwks_uri_cache.clear()
    yield server
    server.close()
    client_auth.jwks_uri_cache.clear()


def test_a_hanging_jwks_uri_is_a_clean_invalid_client_within_the_fetch_timeout(app, browser, silent):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    client_id = idp_json(app, "clients", "create", "--name", "Agency", "--grant-type", "client_credentials",
                         "--scope", "openid", "--auth-method", "private_key_jwt",
                         "--jwks-uri", f"{silent.url}/jwks.json")["client_id"]
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": "k1"},
                           {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token",
                            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}, key)
    started = time.monotonic()
    response = browser.post("/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    elapsed = time.monotonic() - started
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client"
    assert silent.connections, "the jwks_uri was not asked"
    assert elapsed < client_auth.JWKS_FETCH_TIMEOUT + 1.5, elapsed


def test_a_hanging_back_channel_receiver_delays_neither_the_logout_nor_the_queue(app, browser, citizen_id,
                                                                              silent):
    portal = register(app, client_id="portal", backchannel_logout_uri=f"{silent.url}/logout")
    sign_in(app, browser, citizen_id)
    tokens = tokens_for(browser, *portal)
    started = time.monotonic()
    page = browser.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert page.status_code == 200 and time.monotonic() - started < 1.0
    started = time.monotonic()
    with app.app_context():
        summary = backchannel_logout.run_once()
    elapsed = time.monotonic() - started
    assert summary.delivered == 0 and silent.connections
    assert elapsed < BACKCHANNEL_TIMEOUT + 1.5, elapsed
    with app.app_context():
        (delivery,) = db.session.scalars(select(LogoutDelivery)).all()
        assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error == "timeout"


def test_a_hanging_smtp_server_costs_the_outbox_sender_its_timeout_and_the_message_is_retried(
        environ, silent):
    application = create_app({**environ, "IDP_SMTP_URL": f"smtp://127.0.0.1:{silent.port}",
                              "IDP_MAIL_FROM": "no-reply@id.example.gov"})
    application.config["TESTING"] = True
    try:
        with application.app_context():
            create_tables()
        with application.app_context(), application.test_request_context():
            message = outbox.queue("email", "an@example.vn", "contact_code", language="vi",
                                   code="482913", minutes=10)
            db.session.commit()
            row_id = message.id
        started = time.monotonic()
        with application.app_context():
            summary = outbox.run_once()
        elapsed = time.monotonic() - started
        assert summary.retrying == 1 and silent.connections
        assert elapsed < NOTIFY_TIMEOUT + 1.5, elapsed
        with application.app_context():
            row = db.session.get(OutboxMessage, row_id)
            assert row.status == "pending" and row.attempts == 1
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
