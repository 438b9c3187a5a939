"""OpenID Connect Back-Channel Logout 1.0: the logout token (§2.4), its delivery (§2.5, §2.7)
from the queue held in the database, retries with backoff, and the audit trail.

Relying parties here are real HTTP servers on loopback ports (:class:`tests.logout_support.Receiver`);
tokens are checked against the published JWKS with joserfc, as a relying party would.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.auth.models import SsoSession
from idp.config import install
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.logout import backchannel as backchannel_logout
from idp.oidc.models import LogoutDelivery
from tests.logout_support import Receiver
from tests.oidc_support import ISSUER, register, sign_in, tokens_for

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_BACKCHANNEL_RETRY_BASE": "1", "IDP_BACKCHANNEL_TIMEOUT": "2",
            "IDP_BACKCHANNEL_MAX_ATTEMPTS": "3"}


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def _deliveries(app) -> list[LogoutDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))
        db.session.expunge_all()
        return rows


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return rows


def _run(app):
    with app.app_context():
        return backchannel_logout.run_once()


def _signed_in_at(app, browser, citizen_id, *clients):
    """Sign in, then each (client_id, secret) gets tokens from the session; returns the tokens."""
    sign_in(app, browser, citizen_id)
    return [tokens_for(browser, client_id, secret) for client_id, secret in clients]


def _logout(browser, id_token: str):
    response = browser.get("/logout", query_string={"id_token_hint": id_token})
    assert response.status_code == 200
    return response


def test_logout_token_is_signed_typed_and_carries_the_claims_of_section_2_4(app, browser, citizen_id,
                                                                          receiver):
    portal = register(app, client_id="portal", subject_type="public", backchannel_logout_uri=receiver.url)
    agency = register(app, client_id="agency", id_token_signed_response_alg="ES256",
                      redirect_uris=["https://rp.example.gov.vn/callback"],
                      backchannel_logout_uri=receiver.url.replace("logout", "logout-agency"))
    portal_tokens, agency_tokens = _signed_in_at(app, browser, citizen_id, portal, agency)
    _logout(browser, portal_tokens["id_token"])

    deliveries = _deliveries(app)
    assert [d.status for d in deliveries] == ["pending", "pending"]
    keyset = KeySet.import_key_set(browser.get("/.well-known/jwks.json").get_json())
    for delivery, tokens, alg in ((deliveries[0], portal_tokens, "RS256"),
                                  (deliveries[1], agency_tokens, "ES256")):
        id_token = jwt.decode(tokens["id_token"], keyset).claims
        header = extract_compact(delivery.logout_token.encode()).headers()
        assert header["typ"] == "logout+jwt" and header["alg"] == alg and header["kid"]
        claims = jwt.decode(delivery.logout_token, keyset, algorithms=[alg]).claims
        assert claims["iss"] == ISSUER
        assert claims["aud"] == id_token["aud"]
        assert claims["sub"] == id_token["sub"]  # public for the portal, pairwise for the agency
        assert claims["sid"] == id_token["sid"]
        assert claims["events"] == {EVENT: {}}
        assert "nonce" not in claims
        assert claims["iat"] <= time.time() <= claims["exp"] <= claims["iat"] + 120
        assert claims["jti"] == delivery.jti
    assert deliveries[0].jti != deliveries[1].jti
    assert portal_tokens["id_token"] and jwt.decode(portal_tokens["id_token"], keyset).claims["sub"] != \
        jwt.decode(agency_tokens["id_token"], keyset).claims["sub"]


def test_delivery_posts_the_token_form_encoded_and_is_audited(app, browser, citizen_id, receiver):
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])

    summary = _run(app)
    assert summary.delivered == 1
    assert receiver.content_types == ["application/x-www-form-urlencoded"]
    assert list(receiver.received[0]) == ["logout_token"]
    (delivery,) = _deliveries(app)
    assert receiver.received[0]["logout_token"] == delivery.logout_token
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.finished_at
    (event,) = _audit(app, "logout.backchannel_delivered")
    assert event.client_id == "portal" and event.outcome == "success"
    assert event.details["jti"] == delivery.jti


def test_delivery_is_retried_with_backoff_while_the_receiver_is_down_and_sent_when_it_returns(
        app, browser, citizen_id, receiver, clock):
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])

    # The receiver is down: the attempt fails and is scheduled again, base x 2^0 = 1 s later.
    # The clock stands still until the test moves it: on a busy machine more than that second
    # can pass between two runs, and the retry would be due already.
    clock.now = clock.now
    before = utcnow()
    assert _run(app).retrying == 1
    (delivery,) = _deliveries(app)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error
    assert before + timedelta(seconds=1) <= delivery.next_attempt_at <= utcnow() + timedelta(seconds=1)
    assert _run(app).attempted == 0  # not due yet
    retry = _audit(app, "logout.backchannel_retry")
    assert len(retry) == 1 and retry[0].outcome == "failure"

    receiver.start()
    clock.advance(1.1)  # the retry is due
    assert _run(app).delivered == 1
    (delivery,) = _deliveries(app)
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert receiver.received[0]["logout_token"] == delivery.logout_token


def test_backoff_doubles_up_to_the_maximum(app):
    with app.app_context():
        assert [backchannel_logout.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
        install(app, dataclasses.replace(app.config["IDP"], backchannel_retry_max=5))
        assert backchannel_logout.backoff(10).total_seconds() == 5


def test_delivery_is_given_up_after_the_maximum_attempts_and_audited(app, browser, citizen_id, receiver):
    receiver.status = 503
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])
    for _ in range(3):
        with app.app_context():
            db.session.execute(LogoutDelivery.__table__.update().values(next_attempt_at=utcnow()))
            db.session.commit()
        _run(app)
    (delivery,) = _deliveries(app)
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.last_error == "HTTP 503"
    assert len(receiver.received) == 3
    (event,) = _audit(app, "logout.backchannel_failed")
    assert event.outcome == "failure" and event.details["error"] == "HTTP 503"
    assert _run(app).attempted == 0


def test_a_client_that_refuses_the_token_with_400_is_not_asked_again(app, browser, citizen_id, receiver):
    receiver.status = 400  # §2.8: the RP could not log out with this token
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])
    assert _run(app).failed == 1
    (delivery,) = _deliveries(app)
    assert delivery.status == "failed" and delivery.attempts == 1


def test_two_workers_never_claim_the_same_delivery(app, browser, citizen_id, receiver):
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])
    with app.app_context():
        first = backchannel_logout._claim(10)
        second = backchannel_logout._claim(10)
    assert len(first) == 1 and second == []


def test_every_way_a_session_ends_notifies_its_clients(app, browser, citizen_id, receiver):
    """§2.7: whatever ended the session. Here: POST /signout from the account page."""
    from tests.factories import page_csrf

    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    quiet = register(app, client_id="quiet", redirect_uris=["https://rp.example.gov.vn/callback"])
    _signed_in_at(app, browser, citizen_id, portal, quiet)
    response = browser.post("/signout", data={"csrf_token": page_csrf(browser, "/account")})
    assert response.status_code == 200
    (delivery,) = _deliveries(app)  # the client without a backchannel_logout_uri gets nothing
    assert delivery.status == "pending"


def test_a_session_that_expires_unseen_is_ended_by_the_worker_and_its_clients_told(
        app, browser, citizen_id, receiver):
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    _signed_in_at(app, browser, citizen_id, portal)
    with app.app_context():
        session = db.session.scalar(select(SsoSession))
        session.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    summary = _run(app)
    assert summary.sessions_expired == 1 and summary.delivered == 1
    with app.app_context():
        session = db.session.scalar(select(SsoSession))
        assert session.ended_at is not None and session.end_reason == "expired"
        sid = session.sid
    claims = jwt.decode(receiver.received[0]["logout_token"],
                        KeySet.import_key_set(browser.get("/.well-known/jwks.json").get_json())).claims
    assert claims["sid"] == sid
    assert _run(app).sessions_expired == 0  # ended once


def test_a_token_about_to_expire_is_signed_again_with_the_same_jti(app, browser, citizen_id, receiver,
                                                                  clock):
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])
    (queued,) = _deliveries(app)
    with app.app_context():
        db.session.execute(LogoutDelivery.__table__.update().values(token_expires_at=utcnow()))
        db.session.commit()
    clock.advance(1.1)  # a new iat: RS256 signatures are deterministic
    _run(app)
    sent = receiver.received[0]["logout_token"]
    assert sent != queued.logout_token
    keyset = KeySet.import_key_set(browser.get("/.well-known/jwks.json").get_json())
    claims = jwt.decode(sent, keyset).claims
    assert claims["jti"] == queued.jti and claims["exp"] > time.time()


def test_discovery_advertises_back_and_front_channel_logout(browser):
    metadata = browser.get("/.well-known/openid-configuration").get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert metadata["frontchannel_logout_supported"] is True
    assert metadata["frontchannel_logout_session_supported"] is True


def test_logout_queue_cli_runs_once_and_lists(app, browser, citizen_id, receiver):
    receiver.start()
    portal = register(app, client_id="portal", backchannel_logout_uri=receiver.url)
    (tokens,) = _signed_in_at(app, browser, citizen_id, portal)
    _logout(browser, tokens["id_token"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["logout-queue", "list", "--status", "pending"])
    assert result.exit_code == 0 and "portal" in result.output and "pending=1" in result.output
    result = runner.invoke(args=["logout-queue", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered=1" in result.output and "pending=0" in result.output
    assert len(receiver.received) == 1
