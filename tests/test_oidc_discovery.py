"""Provider metadata (OIDC Discovery 1.0 §3-4, RFC 8414 §2-3), mirroring
oidcc-config-certification-test-plan's oidcc-discovery-endpoint-verification: complete, true,
consistent, and every advertised endpoint answers."""

from __future__ import annotations

import pytest

from tests.oidc_support import ISSUER

REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
            "subject_types_supported", "id_token_signing_alg_values_supported")


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration",
                                  "/.well-known/oauth-authorization-server"])
def test_oidcc_discovery_endpoint_verification(browser, path):
    response = browser.get(path)
    assert response.status_code == 200 and response.mimetype == "application/json"
    meta = response.get_json()
    # Discovery §4.3: the issuer is exactly the URL the document was fetched under.
    assert meta["issuer"] == ISSUER
    assert all(name in meta for name in REQUIRED)
    assert meta["response_types_supported"] == ["code"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "national_id" in meta["scopes_supported"] and "openid" in meta["scopes_supported"]
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "end_session_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert meta[name].startswith(ISSUER + "/")
        route = meta[name].removeprefix(ISSUER)
        assert browser.get(route).status_code != 404, name
    # What the JWKS holds matches what is advertised.
    algs = {k["alg"] for k in browser.get("/.well-known/jwks.json").get_json()["keys"]}
    assert set(meta["id_token_signing_alg_values_supported"]) <= algs


def test_discovery_is_served_from_memory_with_an_etag(browser):
    first = browser.get("/.well-known/openid-configuration")
    assert "max-age" in first.headers["Cache-Control"]
    again = browser.get("/.well-known/openid-configuration", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_advertised_auth_methods_are_the_ones_that_work(browser):
    meta = browser.get("/.well-known/openid-configuration").get_json()
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert "client_secret_jwt" not in meta["token_endpoint_auth_methods_supported"]
    # RFC 9101 by value; request_uri only from /par (RFC 9126), never fetched from elsewhere.
    assert meta["request_parameter_supported"] is True and meta["request_uri_parameter_supported"] is False
