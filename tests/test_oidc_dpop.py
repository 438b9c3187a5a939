"""DPoP (RFC 9449): proof-of-possession at the token endpoint, key-bound access tokens at
UserInfo and at introspection, and the attacks §11 names: a proof for another method or URL,
too old, replayed, signed by another key than the token's cnf.jkt, a bound token presented as
a bearer token; the server nonce (§8); a public client's refresh token bound to its key."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import OctKey

from idp import create_app
from idp.db import db
from tests.fapi_support import (
    client_auth,
    code_via_par,
    dpop_proof,
    dpop_token,
    new_key,
    register_fapi,
)
from tests.oidc_support import (
    ISSUER,
    REDIRECT,
    basic,
    code_for,
    exchange,
    pkce_pair,
    register,
    sign_in,
)

TOKEN = f"{ISSUER}/token"
USERINFO = f"{ISSUER}/userinfo"


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


@pytest.fixture
def fapi(app):
    return register_fapi(app)


@pytest.fixture
def dpop_key():
    return new_key("dpop")


@pytest.fixture
def bound(browser, fapi, signed_in, dpop_key):
    """A DPoP-bound token response of a fapi2 client."""
    redirect, verifier = code_via_par(browser, *fapi)
    response = dpop_token(browser, *fapi, dpop_key, redirect["code"], verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _userinfo(browser, token, key, *, scheme="DPoP", **proof):
    proof.setdefault("access_token", token)
    headers = {"Authorization": f"{scheme} {token}"}
    if key is not None:
        headers["DPoP"] = dpop_proof(key, proof.pop("method", "GET"), proof.pop("url", USERINFO), **proof)
    return browser.get("/userinfo", headers=headers)


def _claims(token: str) -> dict:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_token_is_issued_as_dpop_bound_to_the_proof_key(bound, dpop_key):
    """RFC 9449 §5 and §6.1: token_type DPoP and cnf.jkt = the key's RFC 7638 thumbprint."""
    assert bound["token_type"] == "DPoP"
    assert _claims(bound["access_token"])["cnf"] == {"jkt": dpop_key.thumbprint()}


def test_userinfo_accepts_the_bound_token_with_a_proof(browser, bound, dpop_key):
    response = _userinfo(browser, bound["access_token"], dpop_key)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Nguyễn Văn An"


def test_a_bound_token_presented_as_bearer_is_refused(browser, bound, dpop_key):
    """RFC 9449 §7.2: a stolen bound token does not work as a bearer token."""
    response = _userinfo(browser, bound["access_token"], None, scheme="Bearer")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    with_proof = _userinfo(browser, bound["access_token"], dpop_key, scheme="Bearer")
    assert with_proof.status_code == 401


def test_a_proof_signed_by_another_key_is_refused(browser, bound):
    """RFC 9449 §7.1: the proof's key must be the token's cnf.jkt."""
    response = _userinfo(browser, bound["access_token"], new_key("thief"))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_dpop_proof"
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")


def test_a_proof_for_another_method_or_url_is_refused(browser, bound, dpop_key):
    """RFC 9449 §4.3 items 8-9 (htm, htu)."""
    wrong_method = _userinfo(browser, bound["access_token"], dpop_key, method="POST")
    assert wrong_method.status_code == 401 and wrong_method.get_json()["error"] == "invalid_dpop_proof"
    wrong_url = _userinfo(browser, bound["access_token"], dpop_key, url=f"{ISSUER}/introspect")
    assert wrong_url.status_code == 401 and wrong_url.get_json()["error"] == "invalid_dpop_proof"


def test_a_proof_without_the_token_hash_is_refused(browser, bound, dpop_key):
    """RFC 9449 §4.3 item 11 (ath)."""
    response = _userinfo(browser, bound["access_token"], dpop_key, access_token="another-token")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_dpop_proof"


def test_an_old_proof_is_refused(browser, bound, dpop_key):
    response = _userinfo(browser, bound["access_token"], dpop_key, iat=time.time() - 300)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_dpop_proof"


def test_a_replayed_proof_is_refused(browser, bound, dpop_key):
    """RFC 9449 §11.1: a jti is accepted once."""
    proof = dpop_proof(dpop_key, "GET", USERINFO, access_token=bound["access_token"])
    headers = {"Authorization": f"DPoP {bound['access_token']}", "DPoP": proof}
    assert browser.get("/userinfo", headers=headers).status_code == 200
    replay = browser.get("/userinfo", headers=headers)
    assert replay.status_code == 401 and replay.get_json()["error"] == "invalid_dpop_proof"


def test_a_replayed_proof_is_refused_at_the_token_endpoint(browser, fapi, signed_in, dpop_key):
    redirect, verifier = code_via_par(browser, *fapi)
    first = dpop_token(browser, *fapi, dpop_key, redirect["code"], verifier, jti="same")
    assert first.status_code == 200
    redirect, verifier = code_via_par(browser, *fapi)
    again = dpop_token(browser, *fapi, dpop_key, redirect["code"], verifier, jti="same")
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_dpop_proof"


def test_token_endpoint_refuses_bad_proofs(browser, fapi, signed_in, dpop_key):
    """RFC 9449 §4.3 at the token endpoint: wrong htm / htu, too old, a symmetric or private
    key in the header, the wrong typ."""
    redirect, verifier = code_via_par(browser, *fapi)
    cases = [{"url": f"{ISSUER}/userinfo"}, {"method": "GET"}, {"iat": time.time() - 120},
             {"typ": "JWT"}]
    for case in cases:
        url, method = case.pop("url", TOKEN), case.pop("method", "POST")
        response = browser.post("/token", data={"grant_type": "authorization_code", "code": redirect["code"]},
                                headers={"DPoP": dpop_proof(dpop_key, method, url, **case)})
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof", case
    hmac = OctKey.generate_key(256)
    forged = browser.post("/token", data={"grant_type": "authorization_code"},
                          headers={"DPoP": dpop_proof(hmac, "POST", TOKEN, alg="HS256")})
    assert forged.get_json()["error"] == "invalid_dpop_proof"


def test_a_client_requiring_dpop_gets_no_token_without_a_proof(browser, fapi, signed_in):
    """RFC 9449 §5.2 dpop_bound_access_tokens (the fapi2 profile sets it)."""
    redirect, verifier = code_via_par(browser, *fapi)
    response = browser.post("/token", data={
        "grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier, **client_auth(*fapi)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_introspection_returns_cnf(browser, fapi, bound):
    """RFC 9449 §6.2: token_type DPoP and the key's thumbprint."""
    response = browser.post("/introspect", data={"token": bound["access_token"], **client_auth(*fapi)})
    body = response.get_json()
    assert body["active"] is True and body["token_type"] == "DPoP"
    assert body["cnf"]["jkt"] == _claims(bound["access_token"])["cnf"]["jkt"]


def test_client_credentials_with_a_proof_is_bound_not_answered_by_the_fast_path(app, browser):
    """The fast path before Flask leaves DPoP to Flask (the same checks, one implementation)."""
    client_id, secret = register(app, client_id="agency-backend", grant_types=["client_credentials"],
                                 redirect_uris=[], post_logout_redirect_uris=[], scope="openid profile")
    key = new_key("backend")
    response = browser.post("/token", data={"grant_type": "client_credentials", "scope": "profile"},
                            headers={**basic(client_id, secret), "DPoP": dpop_proof(key, "POST", TOKEN)})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "DPoP"
    assert _claims(response.get_json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


def test_a_dpop_client_gets_no_bearer_token_from_the_fast_path(app, browser):
    client_id, secret = register(app, client_id="strict-backend", grant_types=["client_credentials"],
                                 redirect_uris=[], post_logout_redirect_uris=[], scope="openid profile",
                                 dpop_bound_access_tokens=True)
    response = browser.post("/token", data={"grant_type": "client_credentials", "scope": "profile"},
                            headers=basic(client_id, secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_server_nonce(app, environ, citizen_id):
    """RFC 9449 §8: with IDP_DPOP_NONCE, a proof without the server's nonce gets
    use_dpop_nonce and a DPoP-Nonce header; the retry with it succeeds."""
    app = create_app({**environ, "IDP_DPOP_NONCE": "true"})
    browser = app.test_client()
    client_id, secret = register(app, client_id="nonce-backend", grant_types=["client_credentials"],
                                 redirect_uris=[], post_logout_redirect_uris=[], scope="openid profile")
    key = new_key("n")
    data = {"grant_type": "client_credentials", "scope": "profile"}
    first = browser.post("/token", data=data, headers={**basic(client_id, secret),
                                                       "DPoP": dpop_proof(key, "POST", TOKEN)})
    assert first.status_code == 400 and first.get_json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    forged = browser.post("/token", data=data, headers={
        **basic(client_id, secret), "DPoP": dpop_proof(key, "POST", TOKEN, nonce="1." + "A" * 24)})
    assert forged.get_json()["error"] == "use_dpop_nonce"
    retry = browser.post("/token", data=data, headers={
        **basic(client_id, secret), "DPoP": dpop_proof(key, "POST", TOKEN, nonce=nonce)})
    assert retry.status_code == 200 and retry.headers["DPoP-Nonce"]
    with app.app_context():
        db.session.remove()


def test_public_clients_refresh_token_is_bound_to_the_key(app, browser, signed_in):
    """RFC 9449 §5: a public client's refresh token is usable only with a proof of its key."""
    client_id, _ = register(app, client_id="mobile", token_endpoint_auth_method="none")
    key = new_key("mobile")
    verifier, challenge = pkce_pair()
    code = code_for(browser, client_id, code_challenge=challenge, code_challenge_method="S256")["code"]
    tokens = browser.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client_id, "code_verifier": verifier},
        headers={"DPoP": dpop_proof(key, "POST", TOKEN)}).get_json()
    assert tokens["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": client_id}
    stolen = browser.post("/token", data=refresh, headers={"DPoP": dpop_proof(new_key("x"), "POST", TOKEN)})
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    bare = browser.post("/token", data=refresh)
    assert bare.status_code == 400 and bare.get_json()["error"] == "invalid_grant"
    ok = browser.post("/token", data=refresh, headers={"DPoP": dpop_proof(key, "POST", TOKEN)})
    assert ok.status_code == 200 and ok.get_json()["token_type"] == "DPoP"


def test_bearer_clients_are_unchanged(browser, rp, signed_in):
    code = code_for(browser, rp[0])["code"]
    tokens = exchange(browser, *rp, code).get_json()
    assert tokens["token_type"] == "Bearer" and "cnf" not in _claims(tokens["access_token"])
    response = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200


def test_discovery_advertises_dpop_algorithms(browser):
    meta = browser.get("/.well-known/openid-configuration").get_json()
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]


# -- authorization code binding (RFC 9449 §10) --------------------------------------------------


def test_a_proof_at_par_binds_the_code_to_its_key(browser, fapi, signed_in, dpop_key):
    """RFC 9449 §10.1: a stolen code cannot be redeemed with another key."""
    from tests.fapi_support import auth_params, authorize_pushed, consent_and_code

    params = auth_params()
    data = {k: v for k, v in params.items() if not k.startswith("_")}
    pushed = browser.post("/par", data={**data, **client_auth(*fapi)},
                          headers={"DPoP": dpop_proof(dpop_key, "POST", f"{ISSUER}/par")})
    assert pushed.status_code == 201, pushed.get_json()
    response = authorize_pushed(browser, fapi[0], pushed.get_json()["request_uri"])
    code = consent_and_code(browser, response)["code"]
    other = dpop_token(browser, *fapi, new_key("attacker"), code, params["_verifier"])
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_grant"
    same = dpop_token(browser, *fapi, dpop_key, code, params["_verifier"])
    assert same.status_code == 200 and _claims(same.get_json()["access_token"])["cnf"]["jkt"] == \
        dpop_key.thumbprint()


def test_dpop_jkt_on_the_front_channel_binds_the_code(browser, rp, signed_in, dpop_key):
    """RFC 9449 §10: the ``dpop_jkt`` authorization request parameter."""
    code = code_for(browser, rp[0], dpop_jkt=dpop_key.thumbprint())["code"]
    bare = exchange(browser, *rp, code)
    assert bare.status_code == 400 and bare.get_json()["error"] == "invalid_grant"
    bound = browser.post("/token", headers={**basic(*rp), "DPoP": dpop_proof(dpop_key, "POST", TOKEN)},
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert bound.status_code == 200 and bound.get_json()["token_type"] == "DPoP"


def test_a_par_proof_disagreeing_with_dpop_jkt_is_refused(browser, fapi, dpop_key):
    from tests.fapi_support import auth_params

    data = {k: v for k, v in auth_params(dpop_jkt=new_key("x").thumbprint()).items() if not k.startswith("_")}
    response = browser.post("/par", data={**data, **client_auth(*fapi)},
                            headers={"DPoP": dpop_proof(dpop_key, "POST", f"{ISSUER}/par")})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


def test_a_malformed_dpop_jkt_is_invalid_request(browser, rp, signed_in):
    from tests.oidc_support import authorize, redirect_params

    response = authorize(browser, rp[0], dpop_jkt="not a thumbprint")
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.mark.parametrize("jwk", [
    {"kty": "EC", "crv": "P-256", "x": 123, "y": []},
    {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
    {"kty": "EC", "crv": "P-256"},
    {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
    {"kty": "OKP", "crv": "Ed25519", "x": None},
    "not an object",
])
def test_a_malformed_proof_key_is_invalid_dpop_proof_not_a_server_error(browser, jwk):
    import base64
    import json

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    kty = jwk.get("kty") if isinstance(jwk, dict) else ""
    alg = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}.get(kty, "ES256")
    proof = f"{part({'typ': 'dpop+jwt', 'alg': alg, 'jwk': jwk})}.{part({'htm': 'POST', 'htu': TOKEN})}.AAAA"
    response = browser.post("/token", data={"grant_type": "client_credentials"}, headers={"DPoP": proof})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


ORIGIN = "https://app.example.gov.vn"


def _readable_cross_origin(response) -> None:
    """What a browser-based client needs to read this UserInfo answer from another origin."""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"www-authenticate", "dpop-nonce"} <= exposed


def test_userinfo_preflight_allows_the_authorization_and_dpop_headers(browser):
    """Fetch Standard, CORS protocol: the preflight of a DPoP UserInfo call is answered without
    a token (204), for the Authorization and DPoP request headers."""
    response = browser.options("/userinfo", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, dpop"})
    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "dpop"} <= allowed
    assert {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")} == {"GET", "POST"}
    assert "WWW-Authenticate" not in response.headers and "Content-Type" not in response.headers


def test_userinfo_answers_are_readable_cross_origin_the_refusals_too(browser, bound, dpop_key):
    ok = _userinfo(browser, bound["access_token"], dpop_key)
    assert ok.status_code == 200
    _readable_cross_origin(ok)
    missing = browser.get("/userinfo", headers={"Origin": ORIGIN})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    _readable_cross_origin(missing)
    thief = _userinfo(browser, bound["access_token"], new_key("thief"))
    assert thief.status_code == 401 and thief.headers["WWW-Authenticate"].startswith("DPoP")
    _readable_cross_origin(thief)
    as_bearer = _userinfo(browser, bound["access_token"], None, scheme="Bearer")
    assert as_bearer.status_code == 401
    _readable_cross_origin(as_bearer)


def test_userinfo_s_use_dpop_nonce_answer_is_readable_cross_origin(browser, bound, dpop_key, monkeypatch):
    """RFC 9449 §9: the client must read the 401's DPoP-Nonce header to retry with it."""
    from idp.oidc.tokens import dpop

    monkeypatch.setattr(dpop, "nonce_required", lambda: True)
    first = _userinfo(browser, bound["access_token"], dpop_key)
    assert first.status_code == 401 and 'error="use_dpop_nonce"' in first.headers["WWW-Authenticate"]
    _readable_cross_origin(first)
    retry = _userinfo(browser, bound["access_token"], dpop_key, nonce=first.headers["DPoP-Nonce"])
    assert retry.status_code == 200
    _readable_cross_origin(retry)
