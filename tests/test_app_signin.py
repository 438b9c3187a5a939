"""Sign in with the citizen's identity app (idp.auth.app_devices, idp.auth.app_signin): enrolment
of the app's key from the account page, the cross-device QR sign-in and each of its protections,
over HTTP through the real database, the app's messages made by the reference wallet's code."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.audit.models import AuditEvent
from idp.auth.app_models import AppDevice, AppSignInRequest
from idp.auth.models import SsoSession
from idp.db import db
from idp.db.types import utcnow
from tests.app_support import (
    PIN,
    App,
    enrolment_link,
    path_of,
    run_wallet,
    sign_in_page,
    verify_level,
    wallet,
)
from tests.factories import load_registry, make_citizen, page_csrf, sign_in
from tests.oidc_support import (
    authorize,
    consent_and_code,
    exchange,
    jwks_of,
    register,
    sign_in_page_resume,
    verify,
)
from tests.schema import create_tables


@pytest.fixture(autouse=True)
def _english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def citizen(app, client):
    load_registry(app)
    citizen_id = make_citizen(app)
    verify_level(app, citizen_id)
    assert sign_in(client).status_code == 303
    return citizen_id


@pytest.fixture
def phone(app, client, citizen) -> App:
    """An app enrolled on the citizen's account; the browser is then signed out."""
    phone = App()
    assert phone.enrol(client, enrolment_link(client)).status_code == 201
    client.post("/signout", data={"csrf_token": page_csrf(client, "/account")})
    return phone


def _continue(client, html: str):
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    request_id = re.search(r'name="request_id"[^>]*value="([^"]+)"', html).group(1)
    return client.post("/login/app/continue", data={"csrf_token": token, "request_id": request_id})


def _sessions(app, citizen_id):
    with app.app_context():
        return list(db.session.scalars(select(SsoSession).where(SsoSession.citizen_id == citizen_id,
                                                                SsoSession.ended_at.is_(None))))


# -- enrolment ------------------------------------------------------------------------------


def test_enrolment_stores_the_public_key_only_and_lists_the_device(app, client, citizen):
    link = enrolment_link(client)
    assert link.startswith("http://127.0.0.1:8000/app/enrol/")
    phone = App()
    response = phone.enrol(client, link, name="Điện thoại của An")
    assert response.status_code == 201
    with app.app_context():
        device = db.session.scalar(select(AppDevice))
        assert device.citizen_id == citizen and "d" not in device.public_jwk
        assert device.public_jwk == wallet.public_jwk(phone.key)
        events = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert "app.enrolled" in events
    page = client.get("/account/security").get_data(as_text=True)
    assert "Điện thoại của An" in page
    history = client.get("/account/history").get_data(as_text=True)
    assert "Identity app added" in history and "Điện thoại của An" in history


def test_a_claimed_hardware_key_is_recorded_but_amr_stays_swk(app, client, citizen):
    """Without attestation the server cannot tell a secure element from a file (RFC 8176 hwk)."""
    phone = App()
    assert phone.enrol(client, enrolment_link(client), hardware_backed=True).status_code == 201
    client.post("/signout", data={"csrf_token": page_csrf(client, "/account")})
    link, number, html = sign_in_page(client)
    assert phone.answer(client, link, number).status_code == 200
    assert _continue(client, html).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(AppDevice.claims_hardware)) is True
        session = _sessions(app, citizen)[0]
    assert sorted(session.amr) == ["pin", "swk"] and session.acr == "urn:idp:acr:substantial"


def test_an_enrolment_link_works_once(client, citizen):
    link = enrolment_link(client)
    assert App().enrol(client, link).status_code == 201
    replay = App().enrol(client, link)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"


def test_an_enrolment_signed_by_another_key_than_the_one_it_carries_is_refused(client, citizen):
    link = enrolment_link(client)
    phone, thief = App(), App()
    header = {"alg": "ES256", "typ": wallet.ENROL_TYPE, "jwk": wallet.public_jwk(phone.key)}
    body = wallet.sign(thief.key, header, {"aud": "http://127.0.0.1:8000", "iat": int(time.time()),
                                           "enrolment": link.rsplit("/", 1)[1], "device_name": "x"})
    response = client.post(path_of(link), data=body, content_type="application/jose")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_signature"


def test_an_expired_enrolment_link_is_refused(app, client, citizen):
    from idp.auth.app_models import AppEnrolment

    link = enrolment_link(client)
    with app.app_context():
        db.session.execute(update(AppEnrolment).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = App().enrol(client, link)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_adding_the_app_needs_a_recent_sign_in(app, client, citizen):
    with app.app_context():
        db.session.execute(update(SsoSession).values(auth_time=utcnow() - timedelta(hours=1)))
        db.session.commit()
    token = page_csrf(client, "/account/security")
    response = client.post("/account/security/app", data={"csrf_token": token})
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_adding_the_app_needs_an_identity_verified_account(app, client, citizen):
    verify_level(app, citizen, 1)
    token = page_csrf(client, "/account/security")
    assert client.post("/account/security/app", data={"csrf_token": token}).status_code == 403


# -- cross-device sign-in -------------------------------------------------------------------


def test_the_app_signs_the_browser_in_at_substantial_with_swk_and_pin(app, client, citizen, phone):
    client_id, secret = register(app, client_id="portal")
    next_url = sign_in_page_resume(authorize(client, client_id, scope="openid"))
    link, number, html = sign_in_page(client, next=next_url)
    info = client.get(path_of(link)).get_json()
    assert number in info["choices"] and len(info["choices"]) == 3
    assert info["service"] == "Cổng dịch vụ công"
    assert phone.answer(client, link, number).get_json() == {"status": "approved"}
    status = client.get(f"/login/app/{link.rsplit('/', 1)[1]}/status").get_json()
    assert status == {"status": "approved"}
    done = _continue(client, html)
    assert done.status_code == 303 and done.headers["Location"].startswith("/authorize/continue/")
    params = consent_and_code(client, client.get(done.headers["Location"]))
    tokens = exchange(client, client_id, secret, params["code"]).get_json()
    claims = verify(tokens["id_token"], jwks_of(client)).claims
    assert claims["acr"] == "urn:idp:acr:substantial"
    assert set(claims["amr"]) == {"swk", "pin", "mfa"}
    history = client.get("/account/history").get_data(as_text=True)
    assert "Sign-in approved in the identity app" in history and "Điện thoại của An" in history


def test_a_replayed_approval_is_refused(client, phone):
    link, number, html = sign_in_page(client)
    assert phone.answer(client, link, number).status_code == 200
    replay = phone.answer(client, link, number)
    assert replay.status_code == 400 and replay.get_json()["error"] == "expired_token"
    assert _continue(client, html).status_code == 303
    # The approval itself is single use too: a second "continue" signs nothing in.
    again = _continue(client, html)
    assert again.status_code == 400


def test_an_expired_request_is_refused(app, client, phone):
    link, number, html = sign_in_page(client)
    with app.app_context():
        db.session.execute(update(AppSignInRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = phone.answer(client, link, number)
    assert response.status_code == 400 and response.get_json()["error"] == "expired_token"
    assert _continue(client, html).status_code == 400


def test_the_request_is_valid_at_most_120_seconds(app, client):
    sign_in_page(client)
    with app.app_context():
        row = db.session.scalar(select(AppSignInRequest))
        assert (row.expires_at - row.created_at).total_seconds() <= 120


def test_another_browser_cannot_use_a_qr_code_it_did_not_display(app, citizen, phone):
    """QR-code phishing: the attacker's browser displays the code, the citizen's app approves it,
    but only the browser session the request is bound to can continue."""
    attacker, victim_browser = app.test_client(), app.test_client()
    link, number, html = sign_in_page(attacker)
    assert phone.answer(victim_browser, link, number).status_code == 200
    stolen = _continue(victim_browser, html.replace(
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1),
        re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                  victim_browser.get("/login").get_data(as_text=True)).group(1)))
    assert stolen.status_code == 403
    assert victim_browser.get(f"/login/app/{link.rsplit('/', 1)[1]}/status").status_code == 404
    assert _sessions(app, citizen) == []


def test_a_wrong_number_ends_the_request(app, client, citizen, phone):
    link, number, html = sign_in_page(client)
    wrong = next(n for n in client.get(path_of(link)).get_json()["choices"] if n != number)
    response = phone.answer(client, link, wrong)
    assert response.status_code == 400 and response.get_json()["error"] == "wrong_number"
    assert phone.answer(client, link, number).get_json()["error"] == "expired_token"
    assert _continue(client, html).status_code == 400
    assert _sessions(app, citizen) == []


def test_a_signature_by_another_key_is_refused(client, phone):
    link, number, _ = sign_in_page(client)
    response = phone.answer(client, link, number, key=App().key)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_signature"
    assert client.get(f"/login/app/{link.rsplit('/', 1)[1]}/status").get_json() == {"status": "pending"}


def test_a_stale_message_is_refused(client, phone):
    link, number, _ = sign_in_page(client)
    response = phone.answer(client, link, number, iat=int(time.time()) - 600)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_a_removed_device_can_no_longer_sign_in(app, client, citizen, phone):
    assert sign_in(client).status_code == 303
    token = page_csrf(client, "/account/security")
    remove = f"/account/security/app/{phone.device_id}/remove"
    assert f'action="{remove}"' in client.get("/account/security").get_data(as_text=True)  # offered
    removed = client.post(remove, data={"csrf_token": token})
    assert removed.status_code == 303
    client.post("/signout", data={"csrf_token": page_csrf(client, "/account")})
    link, number, _ = sign_in_page(client)
    response = phone.answer(client, link, number)
    assert response.status_code == 401 and response.get_json()["error"] == "unknown_device"
    with app.app_context():
        assert "app.removed" in [e.action for e in db.session.scalars(select(AuditEvent))]


def test_the_citizen_can_deny_in_the_app(app, client, citizen, phone):
    link, number, html = sign_in_page(client)
    assert phone.answer(client, link, number, "deny").get_json() == {"status": "denied"}
    assert client.get(f"/login/app/{link.rsplit('/', 1)[1]}/status").get_json() == {"status": "denied"}
    assert _continue(client, html).status_code == 400
    assert _sessions(app, citizen) == []


def test_continuing_before_the_app_answered_waits(client, phone):
    _, _, html = sign_in_page(client)
    assert _continue(client, html).status_code == 409


def test_creating_requests_is_rate_limited(environ):
    from idp import create_app

    limited = create_app({**environ, "IDP_LOGIN_RATE_LIMIT": "2 per minute"})
    limited.config["TESTING"] = True
    with limited.app_context():
        create_tables()
    browser = limited.test_client()
    codes = [browser.get("/login/app").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    with limited.app_context():
        db.engine.dispose()


def test_admin_lists_and_removes_devices(app, phone):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["citizens", "devices", "001085888274", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"name": "Điện thoại của An"' in listed.output and '"d"' not in listed.output
    removed = runner.invoke(args=["citizens", "remove-device", "001085888274", phone.device_id, "--json"])
    assert removed.exit_code == 0, removed.output
    again = runner.invoke(args=["citizens", "remove-device", "001085888274", phone.device_id])
    assert again.exit_code == 1


def test_the_login_page_offers_the_app(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/login/app"' in page and "Sign in with the app" in page




def test_expired_requests_and_enrolment_links_are_purged(app, client, citizen):
    from idp.auth.app_models import AppEnrolment

    enrolment_link(client)
    sign_in_page(client)
    sign_in_page(client)
    with app.app_context():
        db.session.execute(update(AppEnrolment).values(expires_at=utcnow() - timedelta(seconds=1)))
        first = db.session.scalar(select(AppSignInRequest.id).order_by(AppSignInRequest.id))
        db.session.execute(update(AppSignInRequest).where(AppSignInRequest.id == first)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["maintenance", "purge", "--json"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(AppEnrolment.id)) is None
        assert [r.id for r in db.session.scalars(select(AppSignInRequest))] == [first + 1]


def _offline_wallet(home) -> None:
    """A wallet enrolled with the test issuer, made without a server (key + state files)."""
    phone = wallet.Wallet(home, None)
    phone.create_key(PIN.encode())
    phone.state_file.write_text('{"issuer": "http://127.0.0.1:8000", "device_id": "d", "device_name": "x"}')


def test_the_wallet_refuses_a_qr_code_of_another_server(tmp_path):
    _offline_wallet(tmp_path)
    evil = "https://id.example.com.evil/app/signin/abc"
    result = run_wallet(tmp_path, "scan", evil, "--pick", "10", "--yes")
    assert result.returncode == 1 and "not from http://127.0.0.1:8000" in result.stderr


def test_the_wallet_key_opens_only_with_its_pin(tmp_path):
    _offline_wallet(tmp_path)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "key.pem").read_bytes()
    result = run_wallet(tmp_path, "pending", pin="000000")
    assert result.returncode == 1 and "Wrong PIN" in result.stderr
