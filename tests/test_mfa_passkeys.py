"""Passkeys (W3C WebAuthn Level 2) over HTTP with a software authenticator (tests/
soft_authenticator.py: a generated P-256 key, CBOR attestation "none", real assertion
structures): registration (§7.1), assertion as a second factor (§7.2), origin, rp id, challenge
and signature counter checks, and ``high`` on a verified account."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select, update

from idp.auth.models import SsoSession, WebAuthnCredential
from idp.citizens.models import Citizen
from idp.db import db
from tests.factories import load_registry, make_citizen, page_csrf, sign_in
from tests.oidc_support import authorize, consent_and_code, exchange, jwks_of, register, verify
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _english(client):
    """Pages in English, so assertions read like the messages in the code."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def citizen(app, client):
    load_registry(app)
    citizen_id = make_citizen(app)
    assert sign_in(client).status_code == 303
    return citizen_id


def register_passkey(client, authenticator: SoftAuthenticator, name="Điện thoại"):
    token = page_csrf(client, "/account/security")
    options = client.post("/account/security/passkeys/options", headers={"X-CSRFToken": token})
    assert options.status_code == 200
    credential = authenticator.create(options.get_json())
    return client.post("/account/security/passkeys",
                       data={"csrf_token": token, "credential": credential, "name": name})


def assert_passkey(client, authenticator: SoftAuthenticator, **kwargs):
    token = page_csrf(client, "/login/second-factor")
    options = client.post("/login/second-factor/passkey/options", headers={"X-CSRFToken": token})
    assert options.status_code == 200
    credential = authenticator.get(options.get_json(), **kwargs)
    return client.post("/login/second-factor/passkey", data={"csrf_token": token, "credential": credential})


def test_registration_options_name_the_issuer_host_as_rp_id(client, citizen):
    token = page_csrf(client, "/account/security")
    options = client.post("/account/security/passkeys/options", headers={"X-CSRFToken": token}).get_json()
    assert options["rp"]["id"] == "127.0.0.1"
    assert options["attestation"] == "none"
    assert len(options["challenge"]) >= 43
    assert "001085888274" not in json.dumps(options)  # no national number in the user handle


def test_passkey_registration_stores_the_public_key_and_shows_recovery_codes(client, app, citizen):
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    response = register_passkey(client, authenticator)
    assert response.status_code == 200
    assert len(re.findall(r"<li><code>[a-z0-9-]{11}</code></li>", response.get_data(as_text=True))) == 10
    with app.app_context():
        row = db.session.scalar(select(WebAuthnCredential))
        assert row.credential_id == authenticator.credential_id and row.name == "Điện thoại"
    assert "Điện thoại" in client.get("/account/security").get_data(as_text=True)


def test_registration_from_another_origin_is_refused(client, app, citizen):
    token = page_csrf(client, "/account/security")
    options = client.post("/account/security/passkeys/options", headers={"X-CSRFToken": token}).get_json()
    credential = SoftAuthenticator(ORIGIN, "127.0.0.1").create(options, origin="https://phish.example")
    response = client.post("/account/security/passkeys", data={"csrf_token": token, "credential": credential})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(WebAuthnCredential)) is None


def test_registration_response_is_single_use(client, app, citizen):
    token = page_csrf(client, "/account/security")
    options = client.post("/account/security/passkeys/options", headers={"X-CSRFToken": token}).get_json()
    credential = SoftAuthenticator(ORIGIN, "127.0.0.1").create(options)
    assert client.post("/account/security/passkeys",
                       data={"csrf_token": token, "credential": credential}).status_code == 200
    token = page_csrf(client, "/account/security")
    assert client.post("/account/security/passkeys",
                       data={"csrf_token": token, "credential": credential}).status_code == 422


def test_sign_in_with_password_and_passkey(client, app, citizen):
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    register_passkey(client, authenticator)
    client.delete_cookie("idp_session")
    assert sign_in(client).headers["Location"] == "/login/second-factor"
    assert "Use passkey" in client.get("/login/second-factor").get_data(as_text=True)
    response = assert_passkey(client, authenticator)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    with app.app_context():
        session = db.session.scalar(select(SsoSession).order_by(SsoSession.id.desc()).limit(1))
        assert session.amr == ["pwd", "swk"] and session.acr == "urn:idp:acr:substantial"
        assert db.session.scalar(select(WebAuthnCredential.sign_count)) == 1


def test_assertion_from_another_origin_or_rp_id_is_refused(client, app, citizen):
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    register_passkey(client, authenticator)
    client.delete_cookie("idp_session")
    sign_in(client)
    assert assert_passkey(client, authenticator, origin="http://127.0.0.1:9999").status_code == 422
    assert assert_passkey(client, authenticator, rp_id="evil.example").status_code == 422
    assert client.get("/account").status_code == 303


def test_a_counter_that_does_not_grow_is_refused(client, app, citizen):
    """WebAuthn §6.1.1: a signature counter at or below the stored one means a cloned key."""
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    register_passkey(client, authenticator)
    client.delete_cookie("idp_session")
    sign_in(client)
    assert assert_passkey(client, authenticator, count=5).status_code == 303
    client.delete_cookie("idp_session")
    sign_in(client)
    assert assert_passkey(client, authenticator, count=5).status_code == 422
    assert assert_passkey(client, authenticator, count=6).status_code == 303


def test_someone_elses_passkey_is_refused(client, app, citizen):
    register_passkey(client, SoftAuthenticator(ORIGIN, "127.0.0.1"))
    client.delete_cookie("idp_session")
    sign_in(client)
    stranger = SoftAuthenticator(ORIGIN, "127.0.0.1")
    assert assert_passkey(client, stranger).status_code == 422


def test_passkey_step_up_to_high_on_a_verified_account_and_loa2_alias(client, app, citizen):
    with app.app_context():
        db.session.execute(update(Citizen).values(level=2))
        db.session.commit()
    portal = register(app, client_id="land", scope="openid")
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    register_passkey(client, authenticator)
    response = authorize(client, portal[0], acr_values="LoA2")
    assert response.headers["Location"].startswith("/login/second-factor?")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "requires a passkey" in page and 'name="otp"' not in page
    response = assert_passkey(client, authenticator)
    assert response.status_code == 303
    response = client.get(response.headers["Location"])
    params = consent_and_code(client, response)
    tokens = exchange(client, portal[0], portal[1], params["code"]).get_json()
    claims = verify(tokens["id_token"], jwks_of(client)).claims
    assert claims["acr"] == "LoA2"
    assert claims["amr"] == ["pwd", "swk", "mfa"]


def test_passkey_can_be_removed(client, app, citizen):
    register_passkey(client, SoftAuthenticator(ORIGIN, "127.0.0.1"))
    with app.app_context():
        pk = db.session.scalar(select(WebAuthnCredential.id))
    token = page_csrf(client, "/account/security")
    response = client.post(f"/account/security/passkeys/{pk}/remove", data={"csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(WebAuthnCredential)) is None


def sign_in_with_passkey_alone(client, authenticator: SoftAuthenticator, **query):
    token = page_csrf(client, "/login/passkey")
    options = client.post("/login/passkey/options", headers={"X-CSRFToken": token})
    assert options.status_code == 200
    assert options.get_json()["userVerification"] == "required"
    credential = authenticator.get(options.get_json())
    return client.post("/login/passkey", query_string=query,
                       data={"csrf_token": token, "credential": credential})


def test_a_user_verifying_passkey_signs_in_alone_as_two_factors(client, app, citizen):
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1")
    register_passkey(client, authenticator)
    client.delete_cookie("idp_session")
    response = sign_in_with_passkey_alone(client, authenticator, next="/account/history")
    assert response.status_code == 303 and response.headers["Location"] == "/account/history"
    with app.app_context():
        session = db.session.scalar(select(SsoSession).order_by(SsoSession.id.desc()).limit(1))
        assert session.amr == ["swk", "user"] and session.acr == "urn:idp:acr:substantial"


def test_a_passkey_without_user_verification_is_only_a_second_factor(client, app, citizen):
    authenticator = SoftAuthenticator(ORIGIN, "127.0.0.1", user_verifying=False)
    register_passkey(client, authenticator)
    client.delete_cookie("idp_session")
    response = sign_in_with_passkey_alone(client, authenticator)
    assert response.status_code == 422
    assert "The passkey could not be verified" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 303
    sign_in(client)
    assert assert_passkey(client, authenticator).status_code == 303
