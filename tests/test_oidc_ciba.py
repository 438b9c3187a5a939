"""OpenID Connect CIBA Core 1.0 (idp.oidc.grants.ciba) over HTTP: /bc-authorize (§7), the citizen's
decision in the identity app, the token endpoint's poll answers (§10.1, §11) and ping mode
(§10.2) through idp.outbound, with the app's messages made by the reference wallet's code."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.audit.models import AuditEvent
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import CibaRequest
from tests.app_support import App, enrolment_link, verify_level
from tests.factories import AN, NGOC, load_registry, make_citizen, page_csrf, sign_in
from tests.logout_support import Receiver
from tests.oidc_support import basic, jwks_of, register, verify
from tests.schema import create_tables

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def phone(app, client) -> App:
    """Citizen An (level 2) with an enrolled app; the browser is then signed out."""
    load_registry(app)
    citizen_id = make_citizen(app)
    verify_level(app, citizen_id)
    assert sign_in(client).status_code == 303
    phone = App()
    assert phone.enrol(client, enrolment_link(client), name="Điện thoại của An").status_code == 201
    client.post("/signout", data={"csrf_token": page_csrf(client, "/account")})
    return phone


@pytest.fixture
def agency(app) -> tuple[str, str]:
    return register(app, client_id="call-centre", name="Tổng đài BHXH", grant_types=[CIBA], redirect_uris=[],
                    scope="openid profile")


def bc_authorize(client, agency, **params):
    params.setdefault("scope", "openid")
    params.setdefault("login_hint", AN["identifier"])
    return client.post("/bc-authorize", data=params, headers=basic(*agency))


def poll(client, agency, auth_req_id: str, *, fresh: bool = True, app=None):
    """POST /token with the CIBA grant. ``fresh`` forgets the last poll first (a client that
    waited its interval), so tests need not sleep."""
    if fresh and app is not None:
        with app.app_context():
            db.session.execute(update(CibaRequest).values(last_polled_at=None))
            db.session.commit()
    data = {"grant_type": CIBA, "auth_req_id": auth_req_id}
    return client.post("/token", data=data, headers=basic(*agency))


def _first_pending(client, phone: App) -> str:
    return phone.ciba(client, "/app/ciba/pending", {"action": "list"}).get_json()["requests"][0]["request_id"]


def test_discovery_advertises_ciba(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_authentication_endpoint"] == "http://127.0.0.1:8000/bc-authorize"
    assert meta["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert meta["backchannel_user_code_parameter_supported"] is False
    assert CIBA in meta["grant_types_supported"]


def test_poll_mode_request_approve_in_the_app_tokens_issued_once(app, client, phone, agency):
    answer = bc_authorize(client, agency, binding_message="Mã cuộc gọi 4821", scope="openid profile")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"} and body["expires_in"] == 300
    auth_req_id = body["auth_req_id"]
    assert poll(client, agency, auth_req_id, app=app).get_json()["error"] == "authorization_pending"

    listed = phone.ciba(client, "/app/ciba/pending", {"action": "list"}).get_json()["requests"]
    assert len(listed) == 1 and listed[0]["binding_message"] == "Mã cuộc gọi 4821"
    assert listed[0]["service"] == "Tổng đài BHXH"
    assert AN["identifier"] not in json.dumps(listed)  # the login_hint is never shown back
    request_id = listed[0]["request_id"]
    # 128 random bits in hex: a command line takes it back (never a leading "-", an option)
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    approved = phone.ciba(client, f"/app/ciba/{request_id}", {"action": "approve", "request_id": request_id})
    assert approved.get_json() == {"status": "approved"}

    tokens = poll(client, agency, auth_req_id, app=app)
    assert tokens.status_code == 200, tokens.get_json()
    claims = verify(tokens.get_json()["id_token"], jwks_of(client)).claims
    assert claims["aud"] == "call-centre" and claims["acr"] == "urn:idp:acr:substantial"
    assert set(claims["amr"]) == {"swk", "pin", "mfa"}
    bearer = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    assert client.get("/userinfo", headers=bearer).get_json()["name"] == AN["full_name"]
    again = poll(client, agency, auth_req_id, app=app)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    with app.app_context():
        events = {e.action: e for e in db.session.scalars(select(AuditEvent))}
    assert events["ciba.approved"].details["device_name"] == "Điện thoại của An"


def test_polling_faster_than_the_interval_is_slow_down_and_the_interval_grows(app, client, phone, agency):
    auth_req_id = bc_authorize(client, agency).get_json()["auth_req_id"]
    assert poll(client, agency, auth_req_id, app=app).get_json()["error"] == "authorization_pending"
    fast = poll(client, agency, auth_req_id, fresh=False)
    assert fast.status_code == 400 and fast.get_json()["error"] == "slow_down"
    with app.app_context():
        assert db.session.scalar(select(CibaRequest.interval)) == 10


def test_the_citizen_denies_in_the_app_access_denied(app, client, phone, agency):
    auth_req_id = bc_authorize(client, agency).get_json()["auth_req_id"]
    request_id = _first_pending(client, phone)
    denied = phone.ciba(client, f"/app/ciba/{request_id}", {"action": "deny", "request_id": request_id})
    assert denied.get_json() == {"status": "denied"}
    answer = poll(client, agency, auth_req_id, app=app)
    assert answer.status_code == 400 and answer.get_json()["error"] == "access_denied"
    assert sign_in(client).status_code == 303
    history = client.get("/account/history", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Identity confirmation refused in the identity app" in history and "Điện thoại của An" in history


def test_an_expired_request_is_expired_token_and_cannot_be_approved(app, client, phone, agency):
    auth_req_id = bc_authorize(client, agency).get_json()["auth_req_id"]
    with app.app_context():
        request_id = db.session.scalar(select(CibaRequest.request_id))
        db.session.execute(update(CibaRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    late = phone.ciba(client, f"/app/ciba/{request_id}", {"action": "approve", "request_id": request_id})
    assert late.status_code == 400 and late.get_json()["error"] == "expired_token"
    assert poll(client, agency, auth_req_id, app=app).get_json()["error"] == "expired_token"


def test_an_unknown_citizen_is_answered_like_a_known_one(app, client, phone, agency):
    """No enumeration (unlike §13 ``unknown_user_id``): same status, same fields, same kinds of
    values; the request then stays pending and ends in expired_token."""
    known = bc_authorize(client, agency)
    unknown = bc_authorize(client, agency, login_hint=NGOC["identifier"])   # in the registry, no account
    malformed = bc_authorize(client, agency, login_hint="not-a-number")
    for response in (unknown, malformed):
        assert response.status_code == known.status_code == 200
        body = response.get_json()
        assert set(body) == set(known.get_json())
        assert (body["expires_in"], body["interval"]) == (known.get_json()["expires_in"],
                                                          known.get_json()["interval"])
        assert len(body["auth_req_id"]) == len(known.get_json()["auth_req_id"])
        assert response.headers.get("Cache-Control") == known.headers.get("Cache-Control")
    auth_req_id = unknown.get_json()["auth_req_id"]
    assert poll(client, agency, auth_req_id, app=app).get_json()["error"] == "authorization_pending"
    # The enrolled citizen's app is not asked about someone else's request.
    assert len(phone.ciba(client, "/app/ciba/pending", {"action": "list"}).get_json()["requests"]) == 1
    with app.app_context():
        db.session.execute(update(CibaRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert poll(client, agency, auth_req_id, app=app).get_json()["error"] == "expired_token"


def test_an_app_cannot_answer_another_citizens_request(app, client, phone, agency):
    bc_authorize(client, agency)
    with app.app_context():
        request_id = db.session.scalar(select(CibaRequest.request_id))
    other_id = make_citizen(app, NGOC, email="ngoc@example.vn")
    verify_level(app, other_id)
    assert sign_in(client, NGOC["identifier"]).status_code == 303
    other = App()
    assert other.enrol(client, enrolment_link(client)).status_code == 201
    answer = other.ciba(client, f"/app/ciba/{request_id}", {"action": "approve", "request_id": request_id})
    assert answer.status_code == 400 and answer.get_json()["error"] == "expired_token"


def test_a_removed_device_cannot_approve(app, client, phone, agency):
    bc_authorize(client, agency)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["citizens", "remove-device", AN["identifier"], phone.device_id]).exit_code == 0
    answer = phone.ciba(client, "/app/ciba/pending", {"action": "list"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "unknown_device"


def test_a_client_not_registered_for_ciba_is_unauthorized(app, client, phone):
    portal = register(app, client_id="portal")
    answer = bc_authorize(client, portal)
    assert answer.status_code == 400 and answer.get_json()["error"] == "unauthorized_client"


def test_client_authentication_is_required(client, phone, agency):
    answer = client.post("/bc-authorize", data={"scope": "openid", "login_hint": AN["identifier"]},
                         headers=basic("call-centre", "wrong"))
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(("params", "error"), [
    ({"scope": "profile"}, "invalid_scope"),
    ({"login_hint": ""}, "invalid_request"),
    ({"id_token_hint": "x"}, "invalid_request"),
    ({"user_code": "1234"}, "invalid_request"),
    ({"binding_message": "x" * 101}, "invalid_binding_message"),
    ({"acr_values": "urn:unknown"}, "invalid_request"),
])
def test_invalid_requests_get_the_spec_error(client, phone, agency, params, error):
    answer = bc_authorize(client, agency, **params)
    assert answer.status_code in (400, 401) and answer.get_json()["error"] == error


def test_ping_mode_notifies_the_client_through_the_guarded_fetch(app, client, phone, agency):
    receiver = Receiver().start()
    try:
        runner = app.test_cli_runner()
        configured = runner.invoke(args=["ciba", "set-mode", "call-centre", "ping",
                                         "--notification-endpoint", receiver.url, "--json"])
        assert configured.exit_code == 0, configured.output
        missing = bc_authorize(client, agency)
        assert missing.get_json()["error"] == "invalid_request"  # client_notification_token required
        answer = bc_authorize(client, agency, client_notification_token="nt-8f3a")
        auth_req_id = answer.get_json()["auth_req_id"]
        request_id = _first_pending(client, phone)
        phone.ciba(client, f"/app/ciba/{request_id}", {"action": "approve", "request_id": request_id})
        assert receiver.authorizations == ["Bearer nt-8f3a"]
        assert json.loads(receiver.bodies[0]) == {"auth_req_id": auth_req_id}
        assert receiver.content_types == ["application/json"]
        assert poll(client, agency, auth_req_id, app=app).status_code == 200
    finally:
        receiver.stop()


def test_ping_mode_refuses_a_private_notification_endpoint(app, environ):
    from idp import create_app

    strict = create_app({**environ, "IDP_OUTBOUND_ALLOW_NETWORKS": ""})
    with strict.app_context():
        create_tables()
    register(strict, client_id="call-centre", name="x", grant_types=[CIBA], redirect_uris=[], scope="openid")
    result = strict.test_cli_runner().invoke(args=["ciba", "set-mode", "call-centre", "ping",
                                                   "--notification-endpoint", "http://127.0.0.1:9/ciba"])
    assert result.exit_code == 1 and "idp:" in result.output
    with strict.app_context():
        db.engine.dispose()


def test_requests_are_purged_an_hour_after_expiry(app, client, phone, agency):
    bc_authorize(client, agency)
    bc_authorize(client, agency)
    with app.app_context():
        first = db.session.scalar(select(CibaRequest.id).order_by(CibaRequest.id))
        db.session.execute(update(CibaRequest).where(CibaRequest.id == first)
                           .values(expires_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["maintenance", "purge"]).exit_code == 0
    with app.app_context():
        assert [r.id for r in db.session.scalars(select(CibaRequest))] == [first + 1]
