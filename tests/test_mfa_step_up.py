"""Step-up by ``acr_values`` (OIDC Core §3.1.2.1), the client's ``default_acr_values``,
``unmet_authentication_requirements`` (OpenID Connect Unmet Authentication Requirements 1.0),
``acr``/``amr`` in the ID token (OIDC Core §2, RFC 8176), aliases, and ``prompt=login`` /
``max_age`` forcing the password again — all over HTTP, through the real sign-in pages."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from idp.auth.models import SsoSession
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from tests.factories import load_registry, make_citizen, sign_in
from tests.mfa_support import code_at, enrol_totp, submit_otp
from tests.oidc_support import (
    REDIRECT,
    authorize,
    consent_and_code,
    exchange,
    jwks_of,
    redirect_params,
    register,
    sign_in_page_resume,
    verify,
)

SUBSTANTIAL = "urn:idp:acr:substantial"
HIGH = "urn:idp:acr:high"
BASIC = "urn:idp:acr:basic"


@pytest.fixture(autouse=True)
def _english(client):
    """Pages in English, so assertions read like the messages in the code."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def portal(app):
    return register(app, client_id="portal", scope="openid profile")


@pytest.fixture
def citizen(app, client):
    load_registry(app)
    citizen_id = make_citizen(app)
    assert sign_in(client).status_code == 303
    return citizen_id


def id_token(client, portal, response) -> dict:
    params = consent_and_code(client, response)
    assert "code" in params, params
    tokens = exchange(client, portal[0], portal[1], params["code"]).get_json()
    return verify(tokens["id_token"], jwks_of(client)).claims


def follow(client, response):
    """Follow the server's own redirects (sign-in pages, /authorize/continue) until the client's."""
    while response.status_code in (302, 303) and not response.headers["Location"].startswith(REDIRECT):
        response = client.get(response.headers["Location"])
    return response


def current_sid(app) -> str:
    with app.app_context():
        return db.session.scalar(select(SsoSession.sid).where(SsoSession.ended_at.is_(None))
                                 .order_by(SsoSession.id.desc()).limit(1))


def test_password_sign_in_gives_basic_acr_and_pwd_amr(client, app, portal, citizen):
    claims = id_token(client, portal, authorize(client, portal[0]))
    assert claims["acr"] == BASIC
    assert claims["amr"] == ["pwd"]


def test_step_up_from_basic_to_substantial_keeps_the_session_and_raises_acr(client, app, portal, citizen):
    first = id_token(client, portal, authorize(client, portal[0]))
    assert first["acr"] == BASIC
    secret, _ = enrol_totp(client)  # enrolled after signing in: the session is still basic
    cookie_before = client.get_cookie("idp_session").value

    response = authorize(client, portal[0], acr_values=SUBSTANTIAL)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login/second-factor"  # not /login: no password again
    assert parse_qs(location.query)["acr"] == [SUBSTANTIAL]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and 'name="otp"' in page.get_data(as_text=True)
    response = submit_otp(client, code_at(secret, 1))
    assert response.status_code == 303 and response.headers["Location"].startswith("/authorize/continue/")

    claims = id_token(client, portal, follow(client, response))
    assert claims["acr"] == SUBSTANTIAL
    assert claims["amr"] == ["otp", "pwd", "mfa"]
    assert claims["sid"] == first["sid"]  # same SSO session: the relying party stays joined
    assert claims["auth_time"] >= first["auth_time"]
    assert client.get_cookie("idp_session").value != cookie_before  # token rotated on step-up
    with app.app_context():
        assert len(db.session.scalars(select(SsoSession).where(SsoSession.ended_at.is_(None))).all()) == 1


def test_a_session_that_already_meets_the_level_is_not_asked_again(client, app, portal, citizen):
    secret, _ = enrol_totp(client)
    client.delete_cookie("idp_session")
    sign_in(client)
    submit_otp(client, code_at(secret, 1))
    claims = id_token(client, portal, authorize(client, portal[0], acr_values=SUBSTANTIAL))
    assert claims["acr"] == SUBSTANTIAL


def test_account_without_a_second_factor_gets_unmet_authentication_requirements(client, portal, citizen):
    params = redirect_params(authorize(client, portal[0], acr_values=SUBSTANTIAL, state="s1"))
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == "s1"
    assert params["iss"] == "http://127.0.0.1:8000"


def test_level_1_account_asking_for_high_gets_unmet_authentication_requirements(client, portal, citizen):
    enrol_totp(client)
    params = redirect_params(authorize(client, portal[0], acr_values=HIGH))
    assert params["error"] == "unmet_authentication_requirements"


def test_unknown_acr_values_only_cannot_be_met(client, portal, citizen):
    params = redirect_params(authorize(client, portal[0], acr_values="urn:other:loa:4"))
    assert params["error"] == "unmet_authentication_requirements"


def test_unknown_values_among_known_ones_are_ignored(client, portal, citizen):
    claims = id_token(client, portal, authorize(client, portal[0], acr_values=f"urn:other:x {BASIC}"))
    assert claims["acr"] == BASIC


def test_prompt_none_needing_step_up_is_login_required(client, portal, citizen):
    enrol_totp(client)
    params = redirect_params(authorize(client, portal[0], acr_values=SUBSTANTIAL, prompt="none"))
    assert params["error"] == "login_required"


def test_client_default_acr_values_always_apply(client, app, citizen):
    client_id, _ = register(app, client_id="tax", scope="openid", default_acr_values=[SUBSTANTIAL])
    params = redirect_params(authorize(client, client_id))
    assert params["error"] == "unmet_authentication_requirements"
    # A lower acr_values does not lower the client's minimum.
    params = redirect_params(authorize(client, client_id, acr_values=BASIC))
    assert params["error"] == "unmet_authentication_requirements"


def test_loa1_alias_is_basic_and_answered_in_the_clients_vocabulary(client, portal, citizen):
    claims = id_token(client, portal, authorize(client, portal[0], acr_values="LoA1"))
    assert claims["acr"] == "LoA1"


def test_loa2_alias_is_high(client, portal, citizen):
    enrol_totp(client)  # substantial is reachable, high is not on a level 1 account
    params = redirect_params(authorize(client, portal[0], acr_values="LoA2"))
    assert params["error"] == "unmet_authentication_requirements"


def test_aliases_are_configurable(app, environ, client):
    from idp import create_app

    other = create_app({**environ, "IDP_ACR_ALIASES": "eidas-low=urn:idp:acr:basic"})
    document = other.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["acr_values_supported"] == [BASIC, SUBSTANTIAL, HIGH, "eidas-low"]


def test_bad_alias_configuration_stops_the_start(environ):
    from idp import create_app
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_ACR_ALIASES"):
        create_app({**environ, "IDP_ACR_ALIASES": "LoA9=urn:idp:acr:extreme"})


def test_discovery_advertises_the_three_levels_and_the_aliases(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["acr_values_supported"] == [BASIC, SUBSTANTIAL, HIGH, "LoA1", "LoA2"]
    assert document["claims_parameter_supported"] is True


def test_prompt_login_asks_for_the_password_again_even_after_step_up(client, app, portal, citizen):
    secret, _ = enrol_totp(client)
    response = follow(client, authorize(client, portal[0], acr_values=SUBSTANTIAL))
    assert response.status_code == 200  # the second-factor page
    assert submit_otp(client, code_at(secret, 1)).status_code == 303
    response = authorize(client, portal[0], prompt="login", acr_values=SUBSTANTIAL)
    assert sign_in_page_resume(response).startswith("/authorize/continue/")


def test_max_age_forces_the_password_again(client, app, portal, citizen):
    with app.app_context():
        db.session.execute(update(SsoSession).values(auth_time=utcnow() - timedelta(seconds=120)))
        db.session.commit()
    next_url = sign_in_page_resume(authorize(client, portal[0], max_age="60"))
    sid = current_sid(app)
    response = sign_in(client, next=next_url)
    claims = id_token(client, portal, follow(client, response))
    assert claims["auth_time"] >= int((utcnow() - timedelta(seconds=5)).timestamp())
    assert claims["sid"] == sid  # the same citizen signing in again adds to the session


def test_level_2_without_phishing_resistant_factor_cannot_reach_high(client, app, portal, citizen):
    with app.app_context():
        db.session.execute(update(Citizen).values(level=2))
        db.session.commit()
    enrol_totp(client)
    params = redirect_params(authorize(client, portal[0], acr_values=HIGH))
    assert params["error"] == "unmet_authentication_requirements"
