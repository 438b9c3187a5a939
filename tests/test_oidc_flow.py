"""The whole flow a relying party goes through, driven by Authlib's OAuth2 client library:
authorize → sign in → consent → code → tokens → userinfo → refresh → introspect → revoke →
logout, with the ID token and the access token verified against the published JWKS."""

from __future__ import annotations

import time

from tests import factories
from tests.oidc_support import (
    ISSUER,
    POST_LOGOUT,
    REDIRECT,
    authorize,
    decide,
    exchange,
    jwks_of,
    pkce_pair,
    redirect_params,
    rp_session,
    sign_in,
    sign_in_page_resume,
    verify,
)


def test_whole_flow_with_a_real_client_library(app, browser, citizen_id, rp):
    client_id, secret = rp
    rp_client = rp_session(app, client_id, secret, scope="openid profile national_id assurance",
                           code_challenge_method="S256")
    verifier, _ = pkce_pair()
    url, state = rp_client.create_authorization_url(f"{ISSUER}/authorize", nonce="n-0S6",
                                                    code_verifier=verifier)
    path = url.removeprefix(ISSUER)

    # Not signed in: the sign-in page, which will come back to the stored request.
    resume = sign_in_page_resume(browser.get(path))
    assert resume.startswith("/authorize/continue/")

    sign_in(app, browser, citizen_id)
    consent = browser.get(resume)
    html = consent.get_data(as_text=True)
    assert consent.status_code == 200
    assert '<button type="submit" name="decision" value="allow">' in html
    assert '<button type="submit" name="decision" value="deny">' in html
    assert "Cổng dịch vụ công" in html
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    response = browser.post(resume, data={"csrf_token": csrf, "decision": "allow"})
    params = redirect_params(response)
    assert params["state"] == state and params["iss"] == ISSUER

    callback = f"{REDIRECT}?code={params['code']}&state={state}&iss={ISSUER}"
    token = rp_client.fetch_token(f"{ISSUER}/token", authorization_response=callback,
                                  code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]

    keyset = jwks_of(browser)
    id_token = verify(token["id_token"], keyset, ["RS256"])
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
    claims = id_token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == client_id and claims["nonce"] == "n-0S6"
    assert claims["exp"] > time.time() >= claims["iat"] - 1
    assert {"auth_time", "acr", "amr", "sid", "at_hash", "sub"} <= set(claims)
    assert "national_id" not in claims and "name" not in claims

    access = verify(token["access_token"], keyset, ["ES256"])
    assert access.header["typ"] == "at+jwt" and access.header["alg"] == "ES256"
    assert access.claims["client_id"] == client_id and access.claims["sub"] == claims["sub"]
    assert access.claims["aud"] == ISSUER and access.claims["jti"]

    info = rp_client.get("/userinfo").json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Nguyễn Văn An" and info["national_id"] == "001085000001"
    assert info["assurance_level"] == 2 and "email" not in info

    refreshed = rp_client.refresh_token(f"{ISSUER}/token")
    assert refreshed["refresh_token"] != token["refresh_token"]
    new_id = verify(refreshed["id_token"], keyset, ["RS256"]).claims
    assert new_id["sub"] == claims["sub"]

    introspected = rp_client.introspect_token(f"{ISSUER}/introspect", refreshed["access_token"]).json()
    assert introspected["active"] is True and introspected["client_id"] == client_id
    assert introspected["sub"] == claims["sub"]

    assert rp_client.revoke_token(f"{ISSUER}/revoke", refreshed["access_token"]).status_code == 200
    assert rp_client.introspect_token(f"{ISSUER}/introspect", refreshed["access_token"]).json() == {
        "active": False}
    assert rp_client.get("/userinfo").status_code == 401

    logout = browser.get("/logout", query_string={"id_token_hint": refreshed["id_token"],
                                                   "post_logout_redirect_uri": POST_LOGOUT,
                                                   "state": "bye"})
    assert logout.status_code == 302
    assert logout.headers["Location"] == f"{POST_LOGOUT}?state=bye"
    again = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid", "prompt": "none", "state": "s2"})
    assert redirect_params(again)["error"] == "login_required"


def test_a_plain_get_is_answered_with_the_sign_in_page_and_a_post_is_redirected_to_it(browser, rp):
    """OIDC Core §3.1.2.3: the citizen must sign in. A GET that can be made again gets the page in
    the authorization endpoint's own answer; its language switcher comes back to /login, not to
    the request (URLs end up in logs). A POST (OIDC Core §3.1.2.1) is redirected to /login?next=,
    so that a reload does not post the request again; single-use requests (RFC 9126 §4, pushed)
    are redirected too (tests/test_oidc_par.py)."""
    page = authorize(browser, rp[0], state="st-get")
    resume = sign_in_page_resume(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Content-Security-Policy"].endswith("object-src 'none'")
    html = page.get_data(as_text=True)
    assert "st-get" not in html and "/lang/en?next=/login?next%3D%252Fauthorize%252Fcontinue%252F" in html

    posted = authorize(browser, rp[0], method="POST")
    assert posted.status_code == 302 and posted.headers["Location"].startswith("/login?next=")
    login = browser.get(posted.headers["Location"])
    assert sign_in_page_resume(login).startswith("/authorize/continue/")
    assert sign_in_page_resume(login) != resume  # a request of its own


def test_the_password_form_answers_with_the_code_once_consent_is_remembered(app, rp):
    """With nothing left to ask (consent given before), the password form's own answer is the
    authorization response: a 303 (RFC 9700 §4.12) to the redirect URI with the code, ``state``
    and ``iss`` (RFC 9207), and the browser's session cookie. The first time, the consent page
    comes after a redirect (POST/redirect/GET), so reloading it posts no password again."""
    factories.load_registry(app)
    factories.make_citizen(app)
    client_id, secret = rp
    verifier, challenge = pkce_pair()

    def password_answer(browser):
        first = authorize(browser, client_id, scope="openid profile", code_challenge=challenge,
                          code_challenge_method="S256")
        next_url = sign_in_page_resume(first)
        return next_url, first.request.args["state"], factories.sign_in(browser, next=next_url)

    browser = app.test_client()
    next_url, _, answer = password_answer(browser)
    assert answer.status_code == 303 and answer.headers["Location"] == next_url
    redirect_params(decide(browser, browser.get(next_url), "allow"))

    browser = app.test_client()  # another browser, no session yet: the password again
    next_url, state, answer = password_answer(browser)
    params = redirect_params(answer)
    assert params["state"] == state and params["iss"] == ISSUER
    tokens = exchange(browser, client_id, secret, params["code"], verifier=verifier).get_json()
    assert verify(tokens["id_token"], jwks_of(browser)).claims["aud"] == client_id
    assert browser.get(next_url).status_code == 400  # the stored request is used up
    # The answer signed the browser in: the next request needs no password.
    assert "code" in redirect_params(authorize(browser, client_id, prompt="none",
                                               code_challenge=challenge, code_challenge_method="S256"))
