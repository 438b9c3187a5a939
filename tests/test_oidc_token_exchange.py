"""OAuth 2.0 Token Exchange (RFC 8693) between agency back-ends: allowed only where an
administrator allowed the (client, audience, scope), narrower than the subject token, with
``act`` naming the acting agency (nested along a chain, §4.1), visible in introspection; the
refusals of §2.2.2."""

from __future__ import annotations

import pytest
from joserfc import jwt

from idp.db import db
from idp.oidc.models import Client
from idp.oidc.subject import subject_for
from tests.oidc_support import ISSUER, basic, jwks_of, register, sign_in, tokens_for

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def agencies(app):
    """Three agencies' back-ends and their own sectors (pairwise subjects differ)."""
    exchanging = ["authorization_code", "refresh_token", GRANT]
    tax = register(app, client_id="tax", name="Tax office", sector_identifier="tax.example.gov.vn",
                   scope="openid profile national_id", grant_types=exchanging)
    social = register(app, client_id="social", name="Social insurance",
                      redirect_uris=["https://social.example.gov.vn/callback"], grant_types=exchanging)
    land = register(app, client_id="land", name="Land registry",
                    redirect_uris=["https://land.example.gov.vn/callback"])
    return {"tax": tax, "social": social, "land": land}


def _allow(app, client: str, audience: str, scope: str):
    result = app.test_cli_runner().invoke(args=["token-exchange", "allow", "--client", client,
                                                "--audience", audience, "--scope", scope])
    assert result.exit_code == 0, result.output
    return result


def _exchange(browser, creds, subject_token: str, **params):
    data = {"grant_type": GRANT, "subject_token": subject_token, "subject_token_type": AT, **params}
    return browser.post("/token", data={k: v for k, v in data.items() if v is not None},
                        headers=basic(*creds))


def _citizen_token(app, browser, citizen_id, agencies, scope="openid profile national_id"):
    sign_in(app, browser, citizen_id)
    return tokens_for(browser, *agencies["tax"], scope=scope)["access_token"]


def test_allowed_exchange_issues_a_narrower_token_for_the_audience_with_act(app, browser, citizen_id,
                                                                           agencies):
    _allow(app, "tax", "social", "openid profile")
    subject = _citizen_token(app, browser, citizen_id, agencies)
    response = _exchange(browser, agencies["tax"], subject, audience="social")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["issued_token_type"] == AT and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    assert body["scope"] == "openid profile"  # national_id was not allowed for this pair
    header_claims = jwt.decode(body["access_token"], jwks_of(browser))
    claims = header_claims.claims
    assert header_claims.header["typ"] == "at+jwt"
    assert claims["aud"] == "social" and claims["client_id"] == "tax" and claims["iss"] == ISSUER
    assert claims["act"] == {"sub": "tax"}
    original = jwt.decode(subject, jwks_of(browser)).claims
    assert claims["exp"] <= original["exp"] and claims["auth_time"] == original["auth_time"]
    with app.app_context():
        from idp.citizens.models import Citizen

        citizen = db.session.get(Citizen, citizen_id)
        social = db.session.query(Client).filter_by(client_id="social").one()
        assert claims["sub"] == subject_for(citizen, social)  # the citizen as social knows them
    assert claims["sub"] != original["sub"]


def test_requested_scope_must_be_within_the_allowed_and_the_original(app, browser, citizen_id, agencies):
    _allow(app, "tax", "social", "openid profile")
    subject = _citizen_token(app, browser, citizen_id, agencies, scope="openid")
    narrower = _exchange(browser, agencies["tax"], subject, audience="social", scope="openid")
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"
    wider = _exchange(browser, agencies["tax"], subject, audience="social", scope="openid profile")
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"


def test_a_chain_nests_act_and_introspection_shows_it(app, browser, citizen_id, agencies):
    _allow(app, "tax", "social", "openid profile")
    _allow(app, "social", "land", "openid")
    subject = _citizen_token(app, browser, citizen_id, agencies)
    first = _exchange(browser, agencies["tax"], subject, audience="social").get_json()["access_token"]
    # Social received a token addressed to it and passes on a narrower one to the land registry.
    second = _exchange(browser, agencies["social"], first, resource="https://land.example.gov.vn/api/parcels")
    assert second.status_code == 200, second.get_json()
    claims = jwt.decode(second.get_json()["access_token"], jwks_of(browser)).claims
    assert claims["act"] == {"sub": "social", "act": {"sub": "tax"}}
    assert claims["aud"] == ["land", "https://land.example.gov.vn/api/parcels"]
    assert claims["scope"] == "openid" and claims["client_id"] == "social"

    # The audience introspects it and sees the delegation chain (RFC 8693 §4.1, RFC 7662).
    seen = browser.post("/introspect", data={"token": second.get_json()["access_token"]},
                        headers=basic(*agencies["land"])).get_json()
    assert seen["active"] is True and seen["act"] == {"sub": "social", "act": {"sub": "tax"}}
    seen = browser.post("/introspect", data={"token": first}, headers=basic(*agencies["tax"])).get_json()
    assert seen["active"] is True and seen["act"] == {"sub": "tax"}
    # A client that is neither the holder nor the audience learns nothing.
    other = browser.post("/introspect", data={"token": first}, headers=basic(*agencies["land"])).get_json()
    assert other == {"active": False}


def test_refusals_of_section_2_2_2(app, browser, citizen_id, agencies):
    subject = _citizen_token(app, browser, citizen_id, agencies)
    # No permission at all for this client: unauthorized_client.
    response = _exchange(browser, agencies["tax"], subject, audience="social")
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"

    _allow(app, "tax", "social", "openid profile")
    cases = [
        ({"audience": "land"}, "invalid_target"),  # allowed for social, not for land
        ({"audience": "nobody"}, "invalid_target"),
        ({"resource": "https://unknown.example.org/api"}, "invalid_target"),
        ({"resource": "not a uri"}, "invalid_target"),
        ({"audience": "social", "resource": "https://land.example.gov.vn/api"}, "invalid_target"),
        ({}, "invalid_request"),  # no target
        ({"audience": "social", "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"},
         "invalid_request"),
        ({"audience": "social", "actor_token": subject, "actor_token_type": AT}, "invalid_request"),
        ({"audience": "social", "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
         "invalid_request"),
    ]
    for params, error in cases:
        response = _exchange(browser, agencies["tax"], subject, **params)
        assert (response.status_code, response.get_json()["error"]) == (400, error), params
    for token in ("", "not.a.token", subject[:-4] + "AAAA"):
        response = _exchange(browser, agencies["tax"], token, audience="social")
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_request"), token


def test_a_token_of_another_client_or_a_revoked_one_cannot_be_exchanged(app, browser, citizen_id, agencies):
    _allow(app, "social", "land", "openid")
    _allow(app, "tax", "social", "openid")
    subject = _citizen_token(app, browser, citizen_id, agencies)
    # Social holds tax's token (not issued to it, not addressed to it): refused.
    response = _exchange(browser, agencies["social"], subject, audience="land")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    # Revoked (RFC 7009) before the exchange: refused.
    revoked = browser.post("/revoke", data={"token": subject}, headers=basic(*agencies["tax"]))
    assert revoked.status_code == 200
    response = _exchange(browser, agencies["tax"], subject, audience="social")
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_request")


def test_a_client_not_registered_for_the_grant_type_is_unauthorized_client(app, browser, citizen_id,
                                                                           agencies):
    """RFC 6749 §5.2: an administrator's exchange permission does not stand in for the client's
    registered grant types; land (authorization_code and refresh_token only) is refused."""
    allowed = _allow(app, "land", "social", "openid")
    assert "not registered for the grant type" in allowed.stderr
    subject = _citizen_token(app, browser, citizen_id, agencies)
    response = _exchange(browser, agencies["land"], subject, audience="social")
    assert (response.status_code, response.get_json()["error"]) == (400, "unauthorized_client")
    assert "registered" in response.get_json()["error_description"]


def test_client_credentials_tokens_name_no_citizen_and_are_refused(app, browser, agencies):
    with app.app_context():
        client = db.session.query(Client).filter_by(client_id="tax").one()
        client.grant_types = [*client.grant_types, "client_credentials"]
        client.scope = "openid profile national_id assurance"
        db.session.commit()
    _allow(app, "tax", "social", "assurance")
    token = browser.post("/token", data={"grant_type": "client_credentials", "scope": "assurance"},
                         headers=basic(*agencies["tax"])).get_json()["access_token"]
    response = _exchange(browser, agencies["tax"], token, audience="social")
    assert response.get_json() == {"error": "invalid_request",
                                   "error_description": "The subject_token does not represent a citizen."}


def test_revoked_permission_stops_exchanges_and_cli_lists_permissions(app, browser, citizen_id, agencies):
    _allow(app, "tax", "social", "openid profile")
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["token-exchange", "list"])
    assert "tax" in listed.output and "social" in listed.output and "openid profile" in listed.output
    revoked = runner.invoke(args=["token-exchange", "revoke", "--client", "tax", "--audience", "social"])
    assert revoked.exit_code == 0
    assert "no token exchange is allowed" in runner.invoke(args=["token-exchange", "list"]).output
    subject = _citizen_token(app, browser, citizen_id, agencies)
    assert _exchange(browser, agencies["tax"], subject, audience="social").get_json()["error"] == \
        "unauthorized_client"
    bad = runner.invoke(args=["token-exchange", "allow", "--client", "tax", "--audience", "nobody",
                              "--scope", "openid"])
    assert bad.exit_code == 2 and "no client with id 'nobody'" in bad.output
    bad = runner.invoke(args=["token-exchange", "allow", "--client", "tax", "--audience", "social",
                              "--scope", "openid telepathy"])
    assert bad.exit_code == 2 and "unknown scopes: telepathy" in bad.output


def test_discovery_advertises_the_grant(browser):
    metadata = browser.get("/.well-known/openid-configuration").get_json()
    assert GRANT in metadata["grant_types_supported"]
