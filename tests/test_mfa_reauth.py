"""Second factors change only after a recent sign-in (IDP_REAUTH_MAX_AGE; NIST SP 800-63B
§4.2.2, OWASP ASVS V2.1): a session left open, or stolen, cannot remove the citizen's
authenticator app, read new recovery codes or add a passkey; signing in again in the same
browser (password and second factor) allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.auth.models import RecoveryCode, SsoSession, TotpCredential
from idp.db import db
from tests.factories import load_registry, make_citizen, page_csrf, sign_in
from tests.mfa_support import code_at, enrol_totp, submit_otp


@pytest.fixture
def enrolled(client, app):
    """A citizen signed in over HTTP, with an authenticator app; pages in English."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    load_registry(app)
    make_citizen(app)
    assert sign_in(client).status_code == 303
    secret, _ = enrol_totp(client)  # a fresh sign-in: allowed at once
    return secret


def _age_the_session(app, seconds: int) -> None:
    with app.app_context():
        for session in db.session.scalars(select(SsoSession)):
            session.auth_time -= timedelta(seconds=seconds)
        db.session.commit()


def _totp_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(TotpCredential)).all())


def test_an_old_session_is_sent_to_sign_in_again_before_any_change(client, app, enrolled):
    token = page_csrf(client, "/account/security")
    _age_the_session(app, 301)
    with app.app_context():
        codes_before = sorted(db.session.scalars(select(RecoveryCode.id)).all())

    for path in ("/account/security/totp/remove", "/account/security/recovery-codes",
                 "/account/security/passkeys"):
        refused = client.post(path, data={"csrf_token": token})
        assert refused.status_code == 303, path
        assert refused.headers["Location"] == "/login?next=/account/security"
    assert client.get("/account/security/totp").status_code == 303
    options = client.post("/account/security/passkeys/options",  # as passkeys.js asks
                          headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert options.status_code == 401 and options.get_json() == {"error": "reauthentication_required"}
    assert _totp_count(app) == 1
    with app.app_context():
        assert sorted(db.session.scalars(select(RecoveryCode.id)).all()) == codes_before
    page = client.get("/account/security").get_data(as_text=True)  # viewing stays allowed
    assert "sign in again before changing how you sign in" in page


def test_signing_in_again_in_the_same_browser_allows_the_change(client, app, enrolled):
    _age_the_session(app, 301)
    token = page_csrf(client, "/account/security")
    assert client.post("/account/security/totp/remove", data={"csrf_token": token}).status_code == 303
    assert _totp_count(app) == 1

    again = sign_in(client, next="/account/security")  # the session cookie is still there
    assert again.headers["Location"].startswith("/login/second-factor")
    back = submit_otp(client, code_at(enrolled, 1))
    assert back.status_code == 303 and back.headers["Location"] == "/account/security"
    token = page_csrf(client, "/account/security")
    removed = client.post("/account/security/totp/remove", data={"csrf_token": token})
    assert removed.status_code == 303 and removed.headers["Location"] == "/account/security"
    assert _totp_count(app) == 0


def test_within_the_window_nothing_more_is_asked(client, app, enrolled):
    _age_the_session(app, 200)
    token = page_csrf(client, "/account/security")
    response = client.post("/account/security/recovery-codes", data={"csrf_token": token})
    assert response.status_code == 200
    assert "<li><code>" in response.get_data(as_text=True)  # the new codes, shown once
