"""RP-Initiated Logout 1.0, mirroring oidcc-rp-initiated-logout-certification-test-plan."""

from __future__ import annotations

import pytest

from tests.oidc_support import POST_LOGOUT, authorize, redirect_params, sign_in, tokens_for


@pytest.fixture
def id_token(app, browser, rp, citizen_id):
    sign_in(app, browser, citizen_id)
    return tokens_for(browser, *rp)["id_token"]


def _signed_out(browser, rp):
    """After logout, prompt=none MUST fail (the plan's final check)."""
    params = redirect_params(authorize(browser, rp[0], prompt="none"))
    return params.get("error") == "login_required"


# §2-3: valid hint, registered URI, state → redirect with state, no confirmation.
def test_rp_initiated_logout(browser, rp, id_token):
    response = browser.get("/logout", query_string={"id_token_hint": id_token,
                                                   "post_logout_redirect_uri": POST_LOGOUT, "state": "s1"})
    assert response.status_code == 302 and response.headers["Location"] == POST_LOGOUT + "?state=s1"
    assert _signed_out(browser, rp)


# §3: state is optional.
def test_rp_initiated_logout_no_state(browser, rp, id_token):
    response = browser.get("/logout", query_string={"id_token_hint": id_token,
                                                   "post_logout_redirect_uri": POST_LOGOUT})
    assert response.headers["Location"] == POST_LOGOUT and _signed_out(browser, rp)


# §2: a modified id_token_hint is refused with a page, never a redirect, session kept.
def test_rp_initiated_logout_modified_id_token_hint(browser, rp, id_token):
    head, body, sig = id_token.split(".")
    bad = f"{head}.{body}.{sig[:-4]}AAAA"
    response = browser.get("/logout", query_string={"id_token_hint": bad,
                                                   "post_logout_redirect_uri": POST_LOGOUT})
    assert response.status_code == 400 and "Location" not in response.headers
    assert not _signed_out(browser, rp)


# §2: garbage as a hint.
def test_rp_initiated_logout_bad_id_token_hint(browser, rp, id_token):
    response = browser.get("/logout", query_string={"id_token_hint": "not-a-jwt"})
    assert response.status_code == 400


# §3: an unregistered post_logout_redirect_uri: signed out, no redirect.
def test_rp_initiated_logout_bad_post_logout_redirect_uri(browser, rp, id_token):
    response = browser.get("/logout", query_string={"id_token_hint": id_token,
                                                   "post_logout_redirect_uri": "https://attacker.example/"})
    assert response.status_code == 200 and "Location" not in response.headers
    assert _signed_out(browser, rp)


# §3: exact match: a query string added to the registered URI is not it.
def test_rp_initiated_logout_query_added_to_post_logout_redirect_uri(browser, rp, id_token):
    response = browser.get("/logout", query_string={"id_token_hint": id_token,
                                                   "post_logout_redirect_uri": POST_LOGOUT + "?x=1"})
    assert response.status_code == 200 and "Location" not in response.headers


# §2 and §6: without a hint the citizen confirms first; the form is CSRF-protected.
def test_rp_initiated_logout_no_id_token_hint_asks_for_confirmation(browser, rp, id_token):
    page = browser.get("/logout", query_string={"client_id": rp[0], "post_logout_redirect_uri": POST_LOGOUT,
                                               "state": "s2"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="logout"' in html
    assert not _signed_out(browser, rp)
    assert browser.post("/logout/confirm", data={"decision": "logout", "client_id": rp[0]}).status_code == 400
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    response = browser.post("/logout/confirm", data={
        "csrf_token": csrf, "decision": "logout", "client_id": rp[0],
        "post_logout_redirect_uri": POST_LOGOUT, "state": "s2"})
    assert response.headers["Location"] == POST_LOGOUT + "?state=s2"
    assert _signed_out(browser, rp)


# §2: client_id must match the hint's audience.
def test_rp_initiated_logout_client_id_mismatch(app, browser, rp, id_token):
    from tests.oidc_support import register

    other = register(app, client_id="other")[0]
    response = browser.get("/logout", query_string={"id_token_hint": id_token, "client_id": other})
    assert response.status_code == 400


# §2: the hint must be an ID token: one of our access tokens (same keys, same issuer) is refused.
def test_rp_initiated_logout_access_token_as_hint_is_refused(app, browser, rp, citizen_id):
    sign_in(app, browser, citizen_id)
    access = tokens_for(browser, *rp)["access_token"]
    response = browser.get("/logout", query_string={"id_token_hint": access})
    assert response.status_code == 400 and not _signed_out(browser, rp)
