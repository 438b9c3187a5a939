"""Mirrors the OpenID Foundation's Basic OP certification plan
(oidcc-basic-certification-test-plan, openid-certification/conformance-suite): one test per
module that applies to a code-flow provider, named after it, each citing its spec clause.
The plan runs with client_secret_basic, then client_secret_post (see the -client-secret-post
module). Specs: https://openid.net/specs/openid-connect-core-1_0.html (OIDC Core).
"""

from __future__ import annotations

import time

import pytest

from tests.oidc_support import (
    ISSUER,
    REDIRECT,
    authorize,
    basic,
    code_for,
    consent_and_code,
    exchange,
    jwks_of,
    pkce_pair,
    redirect_params,
    register,
    sign_in,
    sign_in_page_resume,
    tokens_for,
    verify,
)


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id, ago=5)
    return citizen_id


def _id_token(browser, tokens):
    return verify(tokens["id_token"], jwks_of(browser)).claims


def _userinfo(browser, tokens, method="GET", body=False):
    headers = {} if body else {"Authorization": f"Bearer {tokens['access_token']}"}
    if method == "GET":
        return browser.get("/userinfo", headers=headers)
    data = {"access_token": tokens["access_token"]} if body else {}
    return browser.post("/userinfo", headers=headers, data=data)


# OIDC Core §3.1.3.3 (token response) and §3.1.3.7 (ID token validation); §3.1.2.5 state echoed.
def test_oidcc_server(browser, rp, signed_in):
    client_id, secret = rp
    params = code_for(browser, client_id, nonce="n1", state="xyz")
    assert params["state"] == "xyz"
    response = exchange(browser, client_id, secret, params["code"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    claims = _id_token(browser, response.get_json())
    assert claims["iss"] == ISSUER and claims["aud"] == client_id and claims["nonce"] == "n1"
    assert claims["iat"] <= time.time() + 1 < claims["exp"] and claims["sub"]


# OIDC Core §3.1.2.1: response_type REQUIRED; §3.1.2.6 error to the client.
def test_oidcc_response_type_missing(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], response_type=None, state="s"))
    assert params["error"] == "invalid_request" and params["state"] == "s"


# OIDC Core §3.1.3.7 item 6-7; §10.1: signed with a key from the JWKS, RS256 by default.
def test_oidcc_idtoken_signature(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp)
    token = verify(tokens["id_token"], jwks_of(browser), ["RS256"])
    kids = [k["kid"] for k in browser.get("/.well-known/jwks.json").get_json()["keys"]]
    assert token.header["alg"] == "RS256" and token.header["kid"] in kids


# OIDC Core §3.1.3.7 item 7 and §10.1: alg none only for clients registered so; never here.
def test_oidcc_idtoken_unsigned(app, browser, rp, signed_in):
    from idp.oidc.clients.registry import ClientError, create_client

    with app.app_context(), pytest.raises(ClientError):
        create_client(name="x", redirect_uris=[REDIRECT], id_token_signed_response_alg="none")
    metadata = browser.get("/.well-known/openid-configuration").get_json()
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert verify(tokens_for(browser, *rp)["id_token"], jwks_of(browser)).header["alg"] != "none"


# OIDC Core §5.3.1: UserInfo by GET with the Authorization header (RFC 6750 §2.1).
def test_oidcc_userinfo_get(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp, scope="openid profile")
    response = _userinfo(browser, tokens)
    assert response.status_code == 200 and response.get_json()["sub"] == _id_token(browser, tokens)["sub"]


# OIDC Core §5.3.1: UserInfo by POST with the Authorization header.
def test_oidcc_userinfo_post_header(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp, scope="openid profile")
    response = _userinfo(browser, tokens, "POST")
    assert response.status_code == 200 and response.get_json()["name"] == "Nguyễn Văn An"


# OIDC Core §5.3.1 with RFC 6750 §2.2: the token in a form-encoded POST body.
def test_oidcc_userinfo_post_body(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp, scope="openid profile")
    response = _userinfo(browser, tokens, "POST", body=True)
    assert response.status_code == 200 and response.get_json()["sub"]


# OIDC Core §3.1.2.1: nonce is OPTIONAL in the code flow.
def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(browser, rp, signed_in):
    claims = _id_token(browser, tokens_for(browser, *rp))
    assert "nonce" not in claims


# OIDC Core §5.4: scope profile.
def test_oidcc_scope_profile(browser, rp, signed_in):
    info = _userinfo(browser, tokens_for(browser, *rp, scope="openid profile")).get_json()
    assert info["family_name"] == "Nguyễn" and info["given_name"] == "An"
    assert info["birthdate"] == "1985-01-02" and info["gender"] == "male" and "updated_at" in info
    assert "email" not in info


# OIDC Core §5.4: scope email.
def test_oidcc_scope_email(browser, rp, signed_in):
    info = _userinfo(browser, tokens_for(browser, *rp, scope="openid email")).get_json()
    assert info["email"] == "an@example.vn" and info["email_verified"] is True and "name" not in info


# OIDC Core §5.4 and §5.1.1: scope address.
def test_oidcc_scope_address(browser, rp, signed_in):
    info = _userinfo(browser, tokens_for(browser, *rp, scope="openid address")).get_json()
    assert info["address"] == {"formatted": "1 Tràng Tiền, Hoàn Kiếm, Hà Nội"}


# OIDC Core §5.4: scope phone.
def test_oidcc_scope_phone(browser, rp, signed_in):
    info = _userinfo(browser, tokens_for(browser, *rp, scope="openid phone")).get_json()
    assert info["phone_number"] == "+84901234567" and info["phone_number_verified"] is True


# OIDC Core §5.4: every standard scope together.
def test_oidcc_scope_all(browser, rp, signed_in):
    info = _userinfo(browser, tokens_for(browser, *rp, scope="openid profile email address phone")).get_json()
    assert {"name", "email", "address", "phone_number"} <= set(info)
    assert "national_id" not in info


# RFC 6749 §3.1: parameter order does not matter.
def test_oidcc_alternate_happy_flow(browser, rp, signed_in):
    query = f"state=s9&scope=openid+email&redirect_uri={REDIRECT}&client_id={rp[0]}&response_type=code"
    params = consent_and_code(browser, browser.get("/authorize?" + query))
    assert params["state"] == "s9"
    assert exchange(browser, *rp, params["code"]).status_code == 200


# OIDC Core §3.1.2.1: display=page is accepted.
def test_oidcc_display_page(browser, rp, signed_in):
    assert "code" in code_for(browser, rp[0], display="page")


# OIDC Core §3.1.2.1: display=popup is accepted.
def test_oidcc_display_popup(browser, rp, signed_in):
    assert "code" in code_for(browser, rp[0], display="popup")


# OIDC Core §3.1.2.1 prompt=login: the OP MUST re-authenticate; auth_time moves forward.
def test_oidcc_prompt_login(app, browser, rp, signed_in):
    first = _id_token(browser, tokens_for(browser, *rp))
    response = authorize(browser, rp[0], prompt="login")
    resume = sign_in_page_resume(response)
    sign_in(app, browser, signed_in)
    params = redirect_params(browser.get(resume))
    second = _id_token(browser, exchange(browser, *rp, params["code"]).get_json())
    assert second["auth_time"] > first["auth_time"] and second["sub"] == first["sub"]


# OIDC Core §3.1.2.6: prompt=none without a session → login_required, with state.
def test_oidcc_prompt_none_not_logged_in(browser, rp, citizen_id):
    params = redirect_params(authorize(browser, rp[0], prompt="none", state="pn"))
    assert params["error"] == "login_required" and params["state"] == "pn" and params["iss"] == ISSUER


# OIDC Core §3.1.2.1 prompt=none: a code, with no page shown.
def test_oidcc_prompt_none_logged_in(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], prompt="none"))
    assert "code" in params


# OIDC Core §3.1.2.1 max_age: an older authentication MUST be redone; auth_time present.
def test_oidcc_max_age_1(app, browser, rp, signed_in):
    response = authorize(browser, rp[0], max_age="1")
    resume = sign_in_page_resume(response)
    sign_in(app, browser, signed_in)
    params = redirect_params(browser.get(resume))
    claims = _id_token(browser, exchange(browser, *rp, params["code"]).get_json())
    assert claims["auth_time"] >= int(time.time()) - 2


# OIDC Core §3.1.2.1 / §2: with max_age, auth_time is REQUIRED; a recent sign-in is reused.
def test_oidcc_max_age_10000(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], max_age="10000"))
    claims = _id_token(browser, exchange(browser, *rp, params["code"]).get_json())
    assert int(time.time()) - 10 <= claims["auth_time"] <= int(time.time()) - 4


# OIDC Core §3.1.2.1: unknown parameters MUST be ignored.
def test_oidcc_ensure_request_with_unknown_parameter_succeeds(browser, rp, signed_in):
    assert "code" in code_for(browser, rp[0], extra="foobar")


# OIDC Core §3.1.2.1 id_token_hint with prompt=none: same sub.
def test_oidcc_id_token_hint(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp)
    params = redirect_params(authorize(browser, rp[0], prompt="none", id_token_hint=tokens["id_token"]))
    again = _id_token(browser, exchange(browser, *rp, params["code"]).get_json())
    assert again["sub"] == _id_token(browser, tokens)["sub"]


# OIDC Core §3.1.2.1 login_hint: accepted and passed on to the sign-in page.
def test_oidcc_login_hint(browser, rp, citizen_id):
    page = authorize(browser, rp[0], login_hint="001085000001")
    assert sign_in_page_resume(page).startswith("/authorize/continue/")
    assert 'value="001085000001"' in page.get_data(as_text=True)  # prefilled


# OIDC Core §3.1.2.1 ui_locales: accepted and used for the pages shown.
def test_oidcc_ui_locales(browser, rp, signed_in):
    page = authorize(browser, rp[0], scope="openid profile", ui_locales="en-US vi")
    assert page.status_code == 200 and '<html lang="en">' in page.get_data(as_text=True)


# OIDC Core §5.2 claims_locales: accepted.
def test_oidcc_claims_locales(browser, rp, signed_in):
    assert "code" in code_for(browser, rp[0], claims_locales="vi en")


# OIDC Core §3.1.2.1 acr_values: accepted; acr in the ID token (§2).
def test_oidcc_ensure_request_with_acr_values_succeeds(browser, rp, signed_in):
    claims = _id_token(browser, tokens_for(browser, *rp, acr_values="urn:idp:acr:basic LoA1"))
    assert claims["acr"] == "urn:idp:acr:basic"


# RFC 6749 §4.1.2: a code is single-use; a second use is invalid_grant.
def test_oidcc_codereuse(browser, rp, signed_in):
    code = code_for(browser, rp[0])["code"]
    assert exchange(browser, *rp, code).status_code == 200
    second = exchange(browser, *rp, code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"


# RFC 6749 §4.1.2: on reuse the tokens issued from the code SHOULD be revoked.
def test_oidcc_codereuse_30seconds(app, browser, rp, signed_in):
    code = code_for(browser, rp[0])["code"]
    tokens = exchange(browser, *rp, code).get_json()
    second = exchange(browser, *rp, code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert _userinfo(browser, tokens).status_code == 401
    refresh = browser.post("/token", headers=basic(*rp), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"


# RFC 6749 §3.1.2.4 / §4.1.2.1: an unregistered redirect_uri gets an error page, no redirect.
def test_oidcc_ensure_registered_redirect_uri(browser, rp, signed_in):
    response = authorize(browser, rp[0], redirect_uri="https://attacker.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers
    assert response.mimetype == "text/html"


# OIDC Core §3.1.2.1: the authorization endpoint MUST support POST.
def test_oidcc_ensure_post_request_succeeds(browser, rp, signed_in):
    params = consent_and_code(browser, authorize(browser, rp[0], method="POST", state="p1"))
    assert params["state"] == "p1" and exchange(browser, *rp, params["code"]).status_code == 200


# OIDC Core §9: client_secret_post.
def test_oidcc_server_client_secret_post(app, browser, signed_in):
    client_id, secret = register(app, client_id="post-client",
                                 token_endpoint_auth_method="client_secret_post")
    params = code_for(browser, client_id)
    response = exchange(browser, client_id, secret, params["code"], auth="post")
    assert response.status_code == 200 and "id_token" in response.get_json()
    # The registered method only: Basic is refused for this client.
    params = code_for(browser, client_id)
    assert exchange(browser, client_id, secret, params["code"]).status_code == 401


# OIDC Core §6.2 / §3.1.2.6: request_uri unsupported → request_uri_not_supported.
def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], request_uri="https://rp.example.gov.vn/req.jwt"))
    assert params["error"] == "request_uri_not_supported"


# OIDC Core §6.1 / §3.1.2.6, RFC 9101 §10.1: an unsigned (alg none) request object is refused
# as invalid_request_object, to the registered redirect URI of the request.
def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], request="eyJhbGciOiJub25lIn0.e30."))
    assert params["error"] == "invalid_request_object"


# OIDC Core §5.5: the claims parameter is supported; an essential claim the granted scopes do
# not cover is not released, and the request still succeeds.
def test_oidcc_claims_essential(browser, rp, signed_in):
    metadata = browser.get("/.well-known/openid-configuration").get_json()
    assert metadata["claims_parameter_supported"] is True
    assert "code" in code_for(browser, rp[0], claims='{"userinfo":{"name":{"essential":true}}}')


# OIDC Core §6.1: an unsigned request object's redirect_uri is never trusted: the object is
# refused before its parameters are read.
def test_oidcc_ensure_request_object_with_redirect_uri(browser, rp, signed_in):
    request_object = "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwifQ."
    params = redirect_params(authorize(browser, rp[0], request=request_object))
    assert params["error"] == "invalid_request_object"


# OIDC Core §12.1-12.2: refresh works and returns an ID token for the same sub.
def test_oidcc_refresh_token(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp)
    response = browser.post("/token", headers=basic(*rp), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    refreshed = response.get_json()
    assert _id_token(browser, refreshed)["sub"] == _id_token(browser, tokens)["sub"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]


# RFC 7636 §4: PKCE with S256 works.
def test_oidcc_ensure_request_with_valid_pkce_succeeds(browser, rp, signed_in):
    verifier, challenge = pkce_pair()
    params = code_for(browser, rp[0], code_challenge=challenge, code_challenge_method="S256")
    assert exchange(browser, *rp, params["code"], verifier=verifier).status_code == 200
