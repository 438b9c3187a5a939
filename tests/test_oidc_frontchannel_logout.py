"""OpenID Connect Front-Channel Logout 1.0: the "signed out" page loads every joined client's
``frontchannel_logout_uri`` in an iframe (§2), with ``iss`` and ``sid`` when the client asked
for them (§2, §3); the page's CSP lets exactly those origins be framed. Also: SSO across
clients with ``prompt=none``, and the account page listing the services of each session."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt

from tests.factories import page_csrf
from tests.oidc_support import (
    ISSUER,
    REDIRECT,
    authorize,
    code_for,
    exchange,
    jwks_of,
    redirect_params,
    register,
    sign_in,
)

PORTAL_FC = "https://portal.example.gov.vn/frontchannel-logout"
AGENCY_FC = "https://agency.example.gov.vn/fc?tenant=land"
#: The agency's own sector (pairwise subjects), its app sharing the test redirect URI.
AGENCY = {"redirect_uris": [REDIRECT], "sector_identifier": "agency.example.gov.vn"}


def _tokens(browser, client_id: str, secret: str, redirect_uri: str = REDIRECT, scope: str = "openid"):
    code = code_for(browser, client_id, redirect_uri=redirect_uri, scope=scope)["code"]
    response = exchange(browser, client_id, secret, code, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _iframes(page: str) -> list[str]:
    return [html.unescape(src) for src in re.findall(r'<iframe src="([^"]+)"', page)]


def _two_clients(app, browser, citizen_id):
    portal = register(app, client_id="portal", frontchannel_logout_uri=PORTAL_FC)
    agency = register(app, client_id="agency", **AGENCY,
                      frontchannel_logout_uri=AGENCY_FC, frontchannel_logout_session_required=True)
    sign_in(app, browser, citizen_id)
    portal_tokens = _tokens(browser, *portal)
    agency_tokens = _tokens(browser, *agency)
    return portal_tokens, agency_tokens


def test_logout_page_frames_each_joined_client_with_iss_and_sid_when_required(app, browser, citizen_id):
    portal_tokens, _ = _two_clients(app, browser, citizen_id)
    sid = jwt.decode(portal_tokens["id_token"], jwks_of(browser)).claims["sid"]
    response = browser.get("/logout", query_string={"id_token_hint": portal_tokens["id_token"]})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    portal_src, agency_src = _iframes(page)
    assert portal_src == PORTAL_FC  # no session_required: the URI as registered
    parts = urlsplit(agency_src)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://agency.example.gov.vn/fc"
    assert parse_qs(parts.query) == {"tenant": ["land"], "iss": [ISSUER], "sid": [sid]}
    csp = response.headers["Content-Security-Policy"]
    assert "frame-src https://agency.example.gov.vn https://portal.example.gov.vn" in csp
    assert "frame-ancestors 'none'" in csp


def test_logout_with_a_post_logout_redirect_first_shows_the_iframes_then_continues(app, browser,
                                                                                   citizen_id):
    portal_tokens, _ = _two_clients(app, browser, citizen_id)
    response = browser.get("/logout", query_string={
        "id_token_hint": portal_tokens["id_token"],
        "post_logout_redirect_uri": "https://rp.example.gov.vn/logged-out", "state": "s1"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert len(_iframes(page)) == 2
    refresh = re.search(r'<meta http-equiv="refresh" content="(\d+);url=([^"]+)">', page)
    target = html.unescape(refresh.group(2))
    assert target.startswith("https://rp.example.gov.vn/logged-out?") and "state=s1" in target
    assert f'href="{refresh.group(2)}"' in page


def test_signing_out_from_the_account_frames_the_clients_too(app, browser, citizen_id):
    _two_clients(app, browser, citizen_id)
    response = browser.post("/signout", data={"csrf_token": page_csrf(browser, "/account")})
    assert response.status_code == 200
    assert len(_iframes(response.get_data(as_text=True))) == 2


def test_pages_without_a_session_ending_frame_nothing(app, browser, citizen_id):
    _two_clients(app, browser, citizen_id)
    response = browser.get("/account")
    assert "<iframe" not in response.get_data(as_text=True)
    assert "frame-src" not in response.headers["Content-Security-Policy"]


def test_prompt_none_at_a_second_client_answers_with_a_code_and_no_page(app, browser, citizen_id):
    """SSO across clients (OIDC Core §3.1.2.1): signed in for the portal, the agency's silent
    check gets a code straight away, for its own pairwise subject."""
    register(app, client_id="portal", subject_type="public")
    agency = register(app, client_id="agency", **AGENCY, scope="openid profile")
    sign_in(app, browser, citizen_id)
    # The agency's consent was given once before (a first visit), like any returning citizen.
    first = _tokens(browser, *agency, scope="openid profile")
    silent = authorize(browser, "agency", prompt="none", scope="openid profile")
    params = redirect_params(silent)  # a redirect straight back, no page in between
    assert "code" in params and params["iss"] == ISSUER
    agency_sub = jwt.decode(first["id_token"], jwks_of(browser)).claims["sub"]
    tokens = exchange(browser, *agency, params["code"]).get_json()
    assert jwt.decode(tokens["id_token"], jwks_of(browser)).claims["sub"] == agency_sub
    # Without the session, the same request is login_required (§3.1.2.6).
    browser.delete_cookie("idp_session")
    silent = authorize(browser, "portal", prompt="none")
    assert redirect_params(silent)["error"] == "login_required"


def test_account_sessions_page_lists_the_services_that_joined_each_session(app, browser, citizen_id):
    register(app, client_id="portal", name="Cổng Dịch vụ công quốc gia")
    register(app, client_id="agency", name="Cục Thuế", **AGENCY)
    sign_in(app, browser, citizen_id)
    page = browser.get("/account/sessions").get_data(as_text=True)
    assert "Cổng Dịch vụ công quốc gia" not in page
    code_for(browser, "portal")
    code_for(browser, "agency")
    page = browser.get("/account/sessions", headers={"Accept-Language": "en"}).get_data(as_text=True)
    services = re.search(r'<ul class="services">(.*?)</ul>', page, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", services) == ["Cổng Dịch vụ công quốc gia", "Cục Thuế"]
    assert "Services used" in page
