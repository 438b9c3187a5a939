"""Signed request objects (RFC 9101, JAR) by value at /authorize and at /par: what §10 names
as attacks is refused (an unknown key, alg none, a wrong aud, a reused jti, a lifetime over
60 minutes), and the parameters outside a valid object are ignored (§6.3)."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey

from tests.fapi_support import (
    auth_params,
    client_auth,
    new_key,
    redirect_query,
    register_fapi,
    request_object,
    unsigned,
)
from tests.oidc_support import REDIRECT, authorize, consent_and_code, sign_in, sign_in_page_resume


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


@pytest.fixture
def jar_client(app):
    return register_fapi(app, "land-registry", profile=None)


def _params(**overrides) -> dict:
    return {k: v for k, v in auth_params(**overrides).items() if not k.startswith("_")}


def _front(browser, client_id, obj, **outer):
    return browser.get("/authorize", query_string={"client_id": client_id, "request": obj, **outer})


def test_a_signed_request_object_authorizes(browser, jar_client, signed_in):
    params = _params()
    obj = request_object(*jar_client, params)
    redirect = consent_and_code(browser, _front(browser, jar_client[0], obj))
    assert redirect["code"] and redirect["state"] == params["state"]


def test_a_request_object_needing_the_citizen_is_redirected_to_a_sign_in_page_that_reloads(
        browser, jar_client, citizen_id):
    """RFC 9101 §10.8 (jti single use): without a session, a request object is not answered with
    the sign-in page at its own address, whose reload would send the used jti again; the
    browser goes to /login?next=..., which reloads and leads back to the stored request."""
    response = _front(browser, jar_client[0], request_object(*jar_client, _params()))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    first, reloaded = (browser.get(response.headers["Location"]) for _ in range(2))
    assert sign_in_page_resume(first) == sign_in_page_resume(reloaded)
    assert sign_in_page_resume(first).startswith("/authorize/continue/")


def test_parameters_outside_the_request_object_are_ignored(browser, jar_client, signed_in):
    """RFC 9101 §6.3: only the object's parameters count (an attacker-added outer state or
    scope changes nothing)."""
    params = _params(scope="openid")
    obj = request_object(*jar_client, params)
    response = _front(browser, jar_client[0], obj, state="attacker", scope="openid profile national_id",
                      redirect_uri=REDIRECT)
    redirect = consent_and_code(browser, response)
    assert redirect["state"] == params["state"]


def test_a_request_object_signed_by_an_unknown_key_is_refused(browser, jar_client, signed_in):
    obj = request_object(jar_client[0], new_key("intruder"), _params())
    response = _front(browser, jar_client[0], obj)
    assert response.status_code == 400 and "Location" not in response.headers


def test_alg_none_is_refused(browser, jar_client, signed_in):
    """RFC 9101 §10.1 / RFC 8725 §3.1: an unsigned object is never accepted."""
    now = int(time.time())
    obj = unsigned({**_params(), "iss": jar_client[0], "aud": "http://127.0.0.1:8000",
                    "exp": now + 60, "jti": "j1"})
    response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_a_wrong_audience_is_refused(browser, jar_client, signed_in):
    """RFC 9101 §10.2: an object made for another server cannot be replayed here."""
    obj = request_object(*jar_client, _params(), aud="https://other-idp.example")
    response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_a_reused_jti_is_refused(browser, jar_client, signed_in):
    obj = request_object(*jar_client, _params(), jti="once-only")
    assert "code" in consent_and_code(browser, _front(browser, jar_client[0], obj))
    again = request_object(*jar_client, _params(), jti="once-only")
    response = _front(browser, jar_client[0], again, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_a_request_object_without_jti_or_exp_is_refused(browser, jar_client, signed_in):
    for missing in ({"jti": None}, {"exp": None}):
        obj = request_object(*jar_client, _params(), **missing)
        response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
        assert redirect_query(response)["error"] == "invalid_request_object", missing


def test_a_request_object_living_over_60_minutes_is_refused(browser, jar_client, signed_in):
    now = int(time.time())
    obj = request_object(*jar_client, _params(), nbf=now, exp=now + 3601 + 60)
    response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_an_expired_request_object_is_refused(browser, jar_client, signed_in):
    now = int(time.time())
    obj = request_object(*jar_client, _params(), nbf=now - 600, exp=now - 300)
    response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_a_wrong_issuer_or_inner_client_id_is_refused(browser, jar_client, signed_in):
    for claims in ({"iss": "someone-else"}, {"client_id": "someone-else"}):
        obj = request_object(*jar_client, {**_params(), **claims})
        response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
        assert redirect_query(response)["error"] == "invalid_request_object", claims


def test_another_jwt_type_is_refused(browser, jar_client, signed_in):
    """RFC 9101 §10.8: explicit typing keeps other JWTs of the client (assertions, proofs) out."""
    obj = request_object(*jar_client, _params(), header={"typ": "dpop+jwt"})
    response = _front(browser, jar_client[0], obj, redirect_uri=REDIRECT)
    assert redirect_query(response)["error"] == "invalid_request_object"


def test_an_invalid_object_is_never_redirected_to_an_unregistered_uri(browser, jar_client, signed_in):
    obj = request_object(jar_client[0], new_key("intruder"), _params())
    response = _front(browser, jar_client[0], obj, redirect_uri="https://evil.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers


def test_request_object_pushed_to_par(browser, jar_client, signed_in):
    """RFC 9126 §3: a request object at /par; the request_uri then stands for it."""
    params = _params()
    obj = request_object(*jar_client, params)
    pushed = browser.post("/par", data={"request": obj, **client_auth(*jar_client)})
    assert pushed.status_code == 201, pushed.get_json()
    response = browser.get("/authorize", query_string={
        "client_id": jar_client[0], "request_uri": pushed.get_json()["request_uri"]})
    assert consent_and_code(browser, response)["state"] == params["state"]


def test_an_invalid_request_object_at_par_is_a_json_error(browser, jar_client):
    obj = request_object(jar_client[0], new_key("intruder"), _params())
    response = browser.post("/par", data={"request": obj, **client_auth(*jar_client)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request_object"


def test_a_fapi2_client_may_not_sign_with_rs256(app, browser, signed_in):
    """FAPI 2.0 §5.4.1: PS256 or ES256 only."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    client_id, key = register_fapi(app, "bank", key=rsa)
    obj = request_object(client_id, key, _params(), alg="RS256")
    response = browser.post("/par", data={"request": obj, **client_auth(client_id, key, alg="PS256")})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request_object"
    ok = request_object(client_id, key, _params(), alg="PS256")
    response = browser.post("/par", data={"request": ok, **client_auth(client_id, key, alg="PS256")})
    assert response.status_code == 201, response.get_json()


def test_an_outside_request_uri_stays_refused(browser, jar_client, signed_in):
    response = authorize(browser, jar_client[0], request_uri="https://rp.example.gov.vn/req.jwt")
    assert redirect_query(response)["error"] == "request_uri_not_supported"


def test_discovery_advertises_request_object_algorithms(browser):
    meta = browser.get("/.well-known/openid-configuration").get_json()
    assert meta["request_parameter_supported"] is True
    assert "none" not in meta["request_object_signing_alg_values_supported"]
    assert {"ES256", "PS256"} <= set(meta["request_object_signing_alg_values_supported"])


def test_a_request_object_carrying_an_oversized_parameter_is_refused(browser, jar_client, signed_in):
    """The size limits of the front channel apply to the object's own parameters."""
    obj = request_object(*jar_client, _params(nonce="n" * 5000))
    response = _front(browser, jar_client[0], obj)
    assert response.status_code == 400 and "too large" in response.get_data(as_text=True)
