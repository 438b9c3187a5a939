"""The claims request parameter (OIDC Core §5.5): acr as an essential claim with values
(§5.5.1.1: step-up, or unmet_authentication_requirements like acr_values), individual claims
in the ID token within the consented scopes, and invalid JSON refused."""

from __future__ import annotations

import json

import pytest

from tests.factories import load_registry, make_citizen, sign_in
from tests.mfa_support import code_at, enrol_totp, submit_otp
from tests.oidc_support import (
    authorize,
    consent_and_code,
    exchange,
    jwks_of,
    redirect_params,
    register,
    verify,
)

SUBSTANTIAL = "urn:idp:acr:substantial"
BASIC = "urn:idp:acr:basic"


def _essential_acr(*values, member="id_token") -> str:
    return json.dumps({member: {"acr": {"essential": True, "values": list(values)}}})


@pytest.fixture(autouse=True)
def _english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def portal(app):
    return register(app, client_id="portal", scope="openid profile email")


@pytest.fixture
def citizen(app, client):
    load_registry(app)
    citizen_id = make_citizen(app)
    assert sign_in(client).status_code == 303
    return citizen_id


def _id_token(client, portal, response) -> dict:
    params = consent_and_code(client, response)
    assert "code" in params, params
    tokens = exchange(client, portal[0], portal[1], params["code"]).get_json()
    return verify(tokens["id_token"], jwks_of(client)).claims


def test_essential_acr_that_cannot_be_met_is_unmet_authentication_requirements(client, portal, citizen):
    params = redirect_params(authorize(client, portal[0], claims=_essential_acr(SUBSTANTIAL), state="s1"))
    assert params["error"] == "unmet_authentication_requirements" and params["state"] == "s1"


def test_essential_acr_in_userinfo_member_too(client, portal, citizen):
    claims = _essential_acr(SUBSTANTIAL, member="userinfo")
    params = redirect_params(authorize(client, portal[0], claims=claims))
    assert params["error"] == "unmet_authentication_requirements"


def test_essential_acr_with_only_unknown_values_cannot_be_met(client, portal, citizen):
    params = redirect_params(authorize(client, portal[0], claims=_essential_acr("urn:other:loa:4")))
    assert params["error"] == "unmet_authentication_requirements"


def test_essential_acr_steps_up_and_is_in_the_id_token(client, portal, citizen):
    secret, _ = enrol_totp(client)
    response = authorize(client, portal[0], claims=_essential_acr(SUBSTANTIAL))
    assert response.status_code == 302 and "second-factor" in response.headers["Location"]
    resume = client.get(response.headers["Location"])
    assert resume.status_code == 200
    step = submit_otp(client, code_at(secret, 1))
    claims = _id_token(client, portal, client.get(step.headers["Location"]))
    assert claims["acr"] == SUBSTANTIAL


def test_voluntary_acr_is_not_enforced(client, portal, citizen):
    claims = json.dumps({"id_token": {"acr": {"values": [SUBSTANTIAL, BASIC]}}})
    token = _id_token(client, portal, authorize(client, portal[0], claims=claims))
    assert token["acr"] == BASIC


def test_individual_claims_in_the_id_token_within_the_granted_scopes(client, portal, citizen):
    claims = json.dumps({"id_token": {"email": {"essential": True}, "name": None, "phone_number": None}})
    token = _id_token(client, portal, authorize(client, portal[0], scope="openid email", claims=claims))
    assert "@" in token["email"] and "email_verified" not in token  # only what was named
    # name (profile) and phone_number (phone) were not consented to: not released.
    assert "name" not in token and "phone_number" not in token


def test_claims_that_are_not_json_are_invalid_request(client, portal, citizen):
    for bad in ("{not json", "[1,2]", json.dumps({"id_token": "acr"})):
        params = redirect_params(authorize(client, portal[0], claims=bad))
        assert params["error"] == "invalid_request", bad


def test_discovery_says_claims_parameter_supported(client):
    assert client.get("/.well-known/openid-configuration").get_json()["claims_parameter_supported"] is True
