"""Authenticator app (RFC 6238) and recovery codes, over HTTP: enrolment on the account page
(QR code decoded back to the otpauth URI with zxing-cpp), sign-in with a code, replay and
drift (§5.2), recovery codes (single use, in the sign-in history), encryption at rest."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.auth.models import RecoveryCode, SsoSession, TotpCredential
from idp.db import db
from tests.factories import PASSWORD, load_registry, make_citizen, page_csrf, sign_in
from tests.mfa_support import code_at, enrol_totp, enrolment_page, submit_otp, submit_recovery


@pytest.fixture(autouse=True)
def _english(client):
    """Pages in English, so assertions read like the messages in the code."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def _signed_in(client, app):
    load_registry(app)
    make_citizen(app)
    assert sign_in(client).status_code == 303
    return client


def _password_step(client, **query):
    """A fresh browser signs in with the password; an enrolled citizen is sent to the second step."""
    client.delete_cookie("idp_session")
    response = sign_in(client, **query)
    assert response.status_code == 303
    return response


def test_enrolment_page_shows_qr_code_that_decodes_to_the_otpauth_uri(client, app):
    _signed_in(client, app)
    uri, secret, body = enrolment_page(client)
    parsed = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/")
    assert parsed.secret == secret and len(secret) == 32
    assert parsed.digits == 6 and parsed.interval == 30 and parsed.digest().name == "sha1"
    assert parsed.issuer == "127.0.0.1:8000"
    assert "001085888274" not in uri  # no national number in the label
    assert 'name="otp"' in body and 'autocomplete="one-time-code"' in body and 'inputmode="numeric"' in body
    # The page is reloaded: the same pending secret, so a scan done earlier still works.
    assert enrolment_page(client)[1] == secret


def test_enrolment_completes_only_after_a_valid_code(client, app):
    _signed_in(client, app)
    _, secret, _ = enrolment_page(client)
    token = page_csrf(client, "/account/security/totp")
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    response = client.post("/account/security/totp", data={"csrf_token": token, "otp": wrong})
    assert response.status_code == 422
    assert "This code is not right" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(TotpCredential)) is None
    response = client.post("/account/security/totp", data={"csrf_token": token, "otp": code_at(secret)})
    assert response.status_code == 200
    with app.app_context():
        credential = db.session.scalar(select(TotpCredential))
        assert credential.confirmed_at is not None
        assert secret.encode() not in credential.secret_encrypted  # encrypted at rest
        assert len(db.session.scalars(select(RecoveryCode)).all()) == 10


def test_sign_in_asks_for_the_code_and_reaches_substantial(client, app):
    _signed_in(client, app)
    secret, _ = enrol_totp(client)
    response = _password_step(client)
    assert response.headers["Location"] == "/login/second-factor"
    assert client.get("/account").status_code == 303  # not signed in yet
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert 'name="otp"' in page and 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    response = submit_otp(client, code_at(secret, 1))
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    with app.app_context():
        session = db.session.scalar(select(SsoSession).order_by(SsoSession.id.desc()).limit(1))
        assert session.amr == ["otp", "pwd"] and session.acr == "urn:idp:acr:substantial"


def test_replayed_code_is_refused(client, app):
    _signed_in(client, app)
    secret, _ = enrol_totp(client)
    code = code_at(secret, 1)
    _password_step(client)
    assert submit_otp(client, code).status_code == 303
    _password_step(client)
    response = submit_otp(client, code)
    assert response.status_code == 422
    assert "already used" in response.get_data(as_text=True)


def test_one_step_of_drift_is_accepted_and_two_are_refused(client, app, clock):
    _signed_in(client, app)
    secret, _ = enrol_totp(client)
    later = time.time() + 600  # the server's clock, well after the enrolment step
    clock.now = later
    _password_step(client)
    assert submit_otp(client, code_at(secret, -2, later)).status_code == 422
    assert submit_otp(client, code_at(secret, 2, later)).status_code == 422
    assert submit_otp(client, code_at(secret, -1, later)).status_code == 303
    _password_step(client)
    assert submit_otp(client, code_at(secret, 1, later)).status_code == 303


def test_wrong_codes_are_throttled_like_passwords(client, app):
    _signed_in(client, app)
    secret, _ = enrol_totp(client)
    _password_step(client)
    statuses = [submit_otp(client, "000000" if code_at(secret) != "000000" else "111111").status_code
                for _ in range(4)]
    assert statuses[:2] == [422, 422] and 429 in statuses


def test_recovery_code_works_once_and_is_in_the_sign_in_history(client, app):
    _signed_in(client, app)
    _, codes = enrol_totp(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    _password_step(client)
    assert submit_recovery(client, codes[0].upper()).status_code == 303
    history = client.get("/account/history").get_data(as_text=True)
    assert "Password and recovery code" in history
    _password_step(client)
    response = submit_recovery(client, codes[0])
    assert response.status_code == 422
    assert "already used" in response.get_data(as_text=True)
    with app.app_context():
        methods = [e.details.get("method") for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "signin"))]
        assert "pwd+recovery_code" in methods


def test_recovery_codes_can_be_regenerated_and_old_ones_stop_working(client, app):
    _signed_in(client, app)
    _, old = enrol_totp(client)
    token = page_csrf(client, "/account/security")
    page = client.post("/account/security/recovery-codes", data={"csrf_token": token})
    assert page.status_code == 200
    new = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    with app.app_context():
        assert len({r.digest for r in db.session.scalars(select(RecoveryCode))}) == 10
    _password_step(client)
    assert submit_recovery(client, old[1]).status_code == 422
    assert submit_recovery(client, new[0]).status_code == 303


def test_second_factor_page_without_a_sign_in_in_progress_is_a_readable_error(client, app):
    load_registry(app)
    make_citizen(app)
    response = client.get("/login/second-factor")
    assert response.status_code == 400
    assert "Sign in again" in response.get_data(as_text=True)


def test_the_password_is_still_needed(client, app):
    _signed_in(client, app)
    enrol_totp(client)
    client.delete_cookie("idp_session")
    response = sign_in(client, password=PASSWORD + "x")
    assert response.status_code == 422
    assert client.get("/login/second-factor").status_code == 400
