"""Pushed Authorization Requests (RFC 9126): /par answers 201 with a single-use request_uri
bound to its client; the attacks of §7 (replay, another client's request_uri, an expired one)
are refused; a client that must use PAR cannot use the front channel."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from idp import create_app
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import PushedAuthorizationRequest
from tests.fapi_support import (
    auth_params,
    authorize_pushed,
    client_auth,
    code_via_par,
    new_key,
    push,
    register_fapi,
)
from tests.oidc_support import REDIRECT, authorize, consent_and_code, register, sign_in


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


@pytest.fixture
def par_client(app):
    """A private_key_jwt client without a profile: PAR optional."""
    return register_fapi(app, "tax", profile=None)


def test_par_answers_201_with_a_request_uri_urn_and_expires_in(browser, par_client):
    response = push(browser, *par_client, auth_params())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    assert response.headers["Cache-Control"] == "no-store"


def test_pushed_request_authorizes_once_and_is_not_replayable(browser, par_client, signed_in):
    """RFC 9126 §4 and §7.3: the request_uri is single use."""
    params = auth_params()
    request_uri = push(browser, *par_client, params).get_json()["request_uri"]
    redirect = consent_and_code(browser, authorize_pushed(browser, par_client[0], request_uri))
    assert redirect["code"] and redirect["state"] == params["state"]
    replay = authorize_pushed(browser, par_client[0], request_uri)
    assert replay.status_code == 400 and "Location" not in replay.headers
    assert "already used" in replay.get_data(as_text=True)


def test_another_clients_request_uri_is_refused(app, browser, par_client, signed_in):
    """RFC 9126 §7.3: a request_uri is bound to the client that pushed it."""
    other, _ = register(app, client_id="other-rp")
    request_uri = push(browser, *par_client, auth_params()).get_json()["request_uri"]
    response = authorize_pushed(browser, other, request_uri)
    assert response.status_code == 400 and "Location" not in response.headers
    # Nor was it consumed by the attempt: its own client still can use it.
    assert consent_and_code(browser, authorize_pushed(browser, par_client[0], request_uri))["code"]


def test_an_expired_request_uri_is_refused(app, browser, par_client, signed_in):
    request_uri = push(browser, *par_client, auth_params()).get_json()["request_uri"]
    with app.app_context():
        db.session.execute(update(PushedAuthorizationRequest).values(expires_at=utcnow()))
        db.session.commit()
    response = authorize_pushed(browser, par_client[0], request_uri)
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)


def test_an_unknown_request_uri_is_refused(browser, par_client, signed_in):
    response = authorize_pushed(browser, par_client[0], "urn:ietf:params:oauth:request_uri:made-up")
    assert response.status_code == 400 and "Location" not in response.headers


def test_par_needs_client_authentication(browser, par_client):
    """RFC 9126 §2: the client authenticates as at the token endpoint."""
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    response = browser.post("/par", data={**params, "client_id": par_client[0]})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    wrong_key = push(browser, par_client[0], new_key(), auth_params())
    assert wrong_key.status_code in (400, 401) and wrong_key.get_json()["error"] == "invalid_client"


def test_par_validates_the_request_and_answers_errors_as_json(browser, par_client):
    """RFC 9126 §2.3: errors at /par are JSON, never a redirect."""
    bad_redirect = push(browser, *par_client, auth_params(redirect_uri="https://evil.example/cb"))
    assert bad_redirect.status_code == 400 and bad_redirect.get_json()["error"] == "invalid_request"
    bad_scope = push(browser, *par_client, auth_params(scope="openid nonsense"))
    assert bad_scope.status_code == 400 and bad_scope.get_json()["error"] == "invalid_scope"
    assert "Location" not in bad_scope.headers


def test_par_refuses_a_request_uri_parameter(browser, par_client):
    """RFC 9126 §2.1: request_uri MUST NOT be pushed."""
    response = push(browser, *par_client, auth_params(request_uri="urn:ietf:params:oauth:request_uri:x"))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_par_refuses_another_client_id_than_the_authenticated_one(browser, par_client):
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    response = browser.post("/par", data={**params, **client_auth(*par_client), "client_id": "someone-else"})
    assert response.status_code in (400, 401) and "request_uri" not in response.get_json()


def test_client_requiring_par_cannot_use_the_front_channel(app, browser, signed_in):
    """RFC 9126 §6 require_pushed_authorization_requests (CLI --require-par)."""
    client_id, _ = register(app, client_id="strict", require_pushed_authorization_requests=True)
    response = authorize(browser, client_id)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "pushed authorization" in response.get_data(as_text=True)


def test_server_wide_par_requirement_is_enforced_and_advertised(app, environ):
    app = create_app({**environ, "IDP_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": "true"})
    browser = app.test_client()
    assert browser.get("/.well-known/openid-configuration").get_json()[
        "require_pushed_authorization_requests"] is True
    client_id, _ = register(app, client_id="plain")
    response = authorize(browser, client_id)
    assert response.status_code == 400 and "pushed authorization" in response.get_data(as_text=True)


def test_discovery_advertises_the_par_endpoint(browser):
    meta = browser.get("/.well-known/openid-configuration").get_json()
    assert meta["pushed_authorization_request_endpoint"] == "http://127.0.0.1:8000/par"
    assert meta["require_pushed_authorization_requests"] is False


def test_pushed_request_survives_sign_in(app, browser, par_client, citizen_id):
    """The pushed parameters (not the spent request_uri) are what resumes after sign-in."""
    params = auth_params()
    request_uri = push(browser, *par_client, params).get_json()["request_uri"]
    to_login = authorize_pushed(browser, par_client[0], request_uri)
    assert to_login.status_code == 302 and to_login.headers["Location"].startswith("/login")
    resume = to_login.headers["Location"].split("next=")[1].split("&")[0].replace("%2F", "/")
    sign_in(app, browser, citizen_id)
    redirect = consent_and_code(browser, browser.get(resume))
    assert redirect["code"] and redirect["state"] == params["state"]


def test_a_forged_pushed_mark_on_the_front_channel_does_not_bypass_par(app, browser, signed_in):
    client_id, key = register_fapi(app)
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    response = authorize(browser, client_id, _idp_pushed="1", **params)
    assert response.status_code == 400 and "pushed authorization" in response.get_data(as_text=True)


def test_code_via_par_for_a_fapi_client(app, browser, signed_in):
    client_id, key = register_fapi(app)
    redirect, _verifier = code_via_par(browser, client_id, key)
    assert redirect["code"] and redirect["iss"] == "http://127.0.0.1:8000"
    assert REDIRECT
