"""Tokens end when the account or the session they came from ends (RFC 9700 §4.14; OpenID
Connect Back-Channel Logout 1.0 §2.7; OWASP ASVS 3.3).

Each test is the attack of the security review: a relying party (or whoever stole its tokens)
keeps using a refresh token and an access token after the event that should have ended them.
Everything goes over HTTP through the real database: the citizen signs in on the sign-in page,
the relying party gets its tokens through the code flow, the administrator uses the ``idp``
command, and the tokens are then presented at ``/token``, ``/userinfo`` and ``/introspect``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.auth.models import SsoSession
from idp.citizens.models import Citizen
from idp.config import ConfigError, load_settings
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client, Consent, LogoutDelivery, RefreshTokenFamily
from tests.admin_support import idp
from tests.factories import AN, PASSWORD, load_registry, make_citizen, page_csrf, sign_in
from tests.oidc_support import ALL_SCOPES, basic, code_for, exchange, register, tokens_for

NEW_PASSWORD = "lotus pond at dawn 7"


@pytest.fixture
def citizen(app) -> int:
    load_registry(app)
    return make_citizen(app, AN)


@pytest.fixture
def portal(app) -> tuple[str, str]:
    return register(app, client_id="portal", scope=ALL_SCOPES + " offline_access",
                    backchannel_logout_uri="https://rp.example.gov.vn/backchannel")


def _browser(app):
    browser = app.test_client()
    assert sign_in(browser).status_code == 303
    return browser


def _tokens(app, browser, portal, scope="openid profile national_id") -> dict:
    return tokens_for(browser, *portal, scope=scope)


def _refresh(app, portal, refresh_token: str):
    return app.test_client().post("/token", headers=basic(*portal), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token})


def _userinfo(app, access_token: str):
    return app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def _introspect(app, portal, token: str) -> dict:
    response = app.test_client().post("/introspect", headers=basic(*portal), data={"token": token})
    assert response.status_code == 200
    return response.get_json()


def assert_alive(app, portal, tokens: dict) -> dict:
    """The tokens work (so a refusal afterwards is the event's doing); returns the rotated ones."""
    info = _userinfo(app, tokens["access_token"])
    assert info.status_code == 200, info.get_json()
    assert _introspect(app, portal, tokens["access_token"])["active"] is True
    assert _introspect(app, portal, tokens["refresh_token"])["active"] is True
    refreshed = _refresh(app, portal, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    return refreshed.get_json()


def assert_ended(app, portal, tokens: dict) -> None:
    """The refresh token is refused (``invalid_grant``, RFC 6749 §5.2), the access token is
    refused at UserInfo (401 ``invalid_token``, RFC 6750 §3.1) and both are inactive at
    introspection (RFC 7662 §2.2)."""
    assert _introspect(app, portal, tokens["access_token"]) == {"active": False}
    assert _introspect(app, portal, tokens["refresh_token"]) == {"active": False}
    info = _userinfo(app, tokens["access_token"])
    assert info.status_code == 401
    assert info.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]
    refreshed = _refresh(app, portal, tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"


def _post_page(browser, path: str, page: str, data: dict | None = None):
    return browser.post(path, data={"csrf_token": page_csrf(browser, page), **(data or {})},
                        headers={"Accept-Language": "en"})


# -- administrator ---------------------------------------------------------------------------


def test_admin_lock_ends_the_relying_partys_refresh_and_access_tokens(app, citizen, portal):
    """The review's attack: after ``idp citizens lock`` the refresh token still answered 200 and
    UserInfo still gave out the national identifier."""
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    offline = _tokens(app, browser, portal, scope="openid offline_access")

    result = idp(app, "citizens", "lock", AN["identifier"], "--reason", "reported stolen card")
    assert result.exit_code == 0, result.output

    assert_ended(app, portal, tokens)
    assert_ended(app, portal, offline)  # offline_access does not outlive a lock
    with app.app_context():  # the back-channel logout is still queued as before
        assert db.session.scalar(select(LogoutDelivery.client_pk)) is not None


def test_admin_set_password_ends_every_token_of_the_account(app, citizen, portal):
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    offline = _tokens(app, browser, portal, scope="openid offline_access")

    result = idp(app, "citizens", "set-password", AN["identifier"], "--password-stdin",
                 input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output

    assert_ended(app, portal, tokens)
    assert_ended(app, portal, offline)


def test_admin_ending_the_sessions_ends_every_token_of_the_account(app, citizen, portal):
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    offline = _tokens(app, browser, portal, scope="openid offline_access")

    result = idp(app, "citizens", "logout", AN["identifier"])
    assert result.exit_code == 0, result.output

    assert_ended(app, portal, tokens)
    assert_ended(app, portal, offline)


def test_a_code_issued_before_the_lock_yields_no_token_after_it(app, citizen, portal):
    """The code flow's last step too: a code the relying party had not redeemed yet when the
    account was locked is refused (``invalid_grant``)."""
    browser = _browser(app)
    code = code_for(browser, portal[0], scope="openid profile")["code"]
    assert idp(app, "citizens", "lock", AN["identifier"], "--reason", "fraud").exit_code == 0

    response = exchange(app.test_client(), *portal, code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_a_locked_account_is_refused_at_refresh_userinfo_and_introspection_whatever_was_revoked(
        app, citizen, portal):
    """The at-use check (refresh grant, UserInfo, introspection before Flask and in Flask): an
    account locked without its tokens being revoked, as by another node while a refresh was
    under way, gets nothing; unlocked, the same tokens work again."""
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id == citizen)
                           .values(locked_until=utcnow() + timedelta(days=1)))
        db.session.commit()

    assert_ended(app, portal, tokens)

    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id == citizen).values(locked_until=None))
        db.session.commit()
    assert_alive(app, portal, tokens)


# -- the citizen's account pages ---------------------------------------------------------------


def test_changing_the_password_on_the_account_page_ends_every_token_of_the_account(
        app, citizen, portal):
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    offline = _tokens(app, browser, portal, scope="openid offline_access")

    done = _post_page(browser, "/account/password", "/account/password", {
        "current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 303

    assert_ended(app, portal, tokens)
    assert_ended(app, portal, offline)


def test_signing_out_of_all_other_sessions_ends_every_token_of_the_account(app, citizen, portal):
    """The citizen fears someone else is signed in: what relying parties got through the other
    sessions (even with offline_access) and through this one ends."""
    other = _browser(app)
    theirs = assert_alive(app, portal, _tokens(app, other, portal))
    their_offline = _tokens(app, other, portal, scope="openid offline_access")
    mine_browser = _browser(app)
    mine = _tokens(app, mine_browser, portal)

    response = _post_page(mine_browser, "/account/sessions/end-others", "/account/sessions")
    assert response.status_code == 303

    assert_ended(app, portal, theirs)
    assert_ended(app, portal, their_offline)
    assert_ended(app, portal, mine)


def test_revoking_a_consent_ends_the_clients_live_access_tokens(app, citizen, portal):
    browser = _browser(app)
    tokens = assert_alive(app, portal, _tokens(app, browser, portal))
    other_client = register(app, client_id="tax-office")
    theirs = _tokens(app, browser, other_client)
    with app.app_context():
        consent_id = db.session.scalar(select(Consent.id).join(Client, Client.id == Consent.client_pk)
                                       .where(Client.client_id == "portal"))

    response = _post_page(browser, f"/account/consents/{consent_id}/revoke", "/account/consents")
    assert response.status_code == 303

    assert_ended(app, portal, tokens)
    assert_alive(app, other_client, theirs)  # another client's consent stands


# -- logout ----------------------------------------------------------------------------------------


def test_rp_initiated_logout_ends_the_sessions_tokens_without_offline_access_only(
        app, citizen, portal):
    """Back-Channel Logout 1.0 §2.7: refresh tokens issued without offline_access to the
    session being logged out are revoked (with their access tokens); those issued with
    offline_access are not."""
    browser = _browser(app)
    online = assert_alive(app, portal, _tokens(app, browser, portal))
    offline = _tokens(app, browser, portal, scope="openid profile offline_access")

    logout = browser.get("/logout", query_string={"id_token_hint": offline["id_token"]})
    assert logout.status_code == 200
    assert browser.get("/account").status_code == 303  # signed out

    assert_ended(app, portal, online)
    assert_alive(app, portal, offline)
    with app.app_context():  # the back-channel logout is still queued as before
        assert db.session.scalar(select(LogoutDelivery.client_pk)) is not None


def test_a_session_that_expires_unused_takes_its_tokens_without_offline_access(app, citizen):
    """The same rule when nobody signs out: the logout worker ends the idle session (and the
    tokens issued in it without offline_access) in one transaction."""
    records = register(app, client_id="records", scope="openid profile offline_access")
    browser = _browser(app)
    online = assert_alive(app, records, _tokens(app, browser, records, scope="openid profile"))
    offline = _tokens(app, browser, records, scope="openid offline_access")
    idle = app.config["IDP"].session_idle_ttl
    with app.app_context():
        db.session.execute(update(SsoSession).values(
            last_seen_at=utcnow() - timedelta(seconds=idle + 1)))
        db.session.commit()

    result = idp(app, "logout-queue", "run", "--once")
    assert result.exit_code == 0, result.output

    assert_ended(app, records, online)
    assert_alive(app, records, offline)


# -- the family's absolute lifetime -----------------------------------------------------------------


def test_a_refresh_token_family_ends_at_its_maximum_age_however_recently_rotated(
        app, citizen, portal):
    """RFC 9700 §4.14.2: rotation gives each token a fresh IDP_REFRESH_TOKEN_TTL, but never past
    IDP_REFRESH_TOKEN_MAX_AGE after the sign-in the family descends from."""
    browser = _browser(app)
    first = _tokens(app, browser, portal)
    fresh = assert_alive(app, portal, first)  # rotated a moment ago
    max_age = app.config["IDP"].refresh_token_max_age
    with app.app_context():
        db.session.execute(update(RefreshTokenFamily).values(
            created_at=utcnow() - timedelta(seconds=max_age + 1)))
        db.session.commit()

    assert _introspect(app, portal, fresh["refresh_token"]) == {"active": False}
    refused = _refresh(app, portal, fresh["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_a_rotated_refresh_token_expires_with_its_family(app, citizen, portal):
    """The ``exp`` introspection reports for a rotated token is the family's end when that comes
    first."""
    browser = _browser(app)
    first = _tokens(app, browser, portal)
    settings = app.config["IDP"]
    with app.app_context():
        started = utcnow() - timedelta(seconds=settings.refresh_token_max_age - 100)
        db.session.execute(update(RefreshTokenFamily).values(created_at=started))
        db.session.commit()
    fresh = assert_alive(app, portal, first)
    exp = _introspect(app, portal, fresh["refresh_token"])["exp"]
    assert exp == pytest.approx((started + timedelta(seconds=settings.refresh_token_max_age))
                                .timestamp(), abs=2)


def test_refresh_token_max_age_is_checked_at_start(environ):
    assert load_settings({**environ}).refresh_token_max_age == 90 * 24 * 3600
    with pytest.raises(ConfigError) as shorter:
        load_settings({**environ, "IDP_REFRESH_TOKEN_TTL": "3600", "IDP_REFRESH_TOKEN_MAX_AGE": "600"})
    assert "IDP_REFRESH_TOKEN_MAX_AGE" in str(shorter.value)
    with pytest.raises(ConfigError) as bad:
        load_settings({**environ, "IDP_REFRESH_TOKEN_MAX_AGE": "ninety days"})
    assert "IDP_REFRESH_TOKEN_MAX_AGE" in str(bad.value)
