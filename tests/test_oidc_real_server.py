"""The code flow end to end against a real ``idp serve`` process, through the real sign-in page.

A relying party uses Authlib's OAuth2Client (a certified-style client library) over real HTTP;
the citizen's browser is an httpx client with a cookie jar that follows the pages: authorize →
/login (password) → consent → code → tokens → userinfo, then SSO (prompt=none, no page) and
RP-initiated logout, after which prompt=none must fail (OIDC RP-Initiated Logout 1.0 §2).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import create_app
from idp.db import db
from tests.factories import AN, PASSWORD, SAMPLE_REGISTRY, make_citizen
from tests.helpers import free_port, run_idp, serving
from tests.oidc_support import form_action, pkce_pair, register

REDIRECT = "https://portal.example.gov.vn/callback"
POST_LOGOUT = "https://portal.example.gov.vn/bye"


@pytest.fixture
def live(environ, tmp_path) -> Iterator[dict]:
    """A migrated database with the sample registry, citizen An and one relying party, served
    by a real idp process on a free loopback port."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**environ, "IDP_ISSUER": issuer}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    app = create_app(env)
    make_citizen(app)
    client_id, secret = register(app, name="Cổng dịch vụ công quốc gia", redirect_uris=[REDIRECT],
                                 post_logout_redirect_uris=[POST_LOGOUT])
    with app.app_context():
        db.engine.dispose()
    with serving(env, port, tmp_path / "server.log"):
        yield {"issuer": issuer, "client_id": client_id, "secret": secret}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _code_from(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_code_flow_through_the_real_sign_in_page_and_sso_and_logout(live):
    issuer = live["issuer"]
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer
    rp = OAuth2Client(live["client_id"], live["secret"], scope="openid profile national_id",
                      redirect_uri=REDIRECT, code_challenge_method="S256")
    verifier, _ = pkce_pair()
    url, state = rp.create_authorization_url(discovery["authorization_endpoint"], nonce="n-1",
                                             code_verifier=verifier)

    with httpx.Client(base_url=issuer) as browser:
        # Authorization request without a session: answered with the sign-in page.
        login = browser.get(url)
        assert login.status_code == 200
        assert 'autocomplete="current-password"' in login.text
        action = form_action(login.text)
        assert action.startswith("/login?next=/authorize/continue/")
        signed_in = browser.post(action, data={
            "csrf_token": _csrf(login.text), "username": AN["identifier"], "password": PASSWORD})
        assert signed_in.status_code == 303
        consent = browser.get(signed_in.headers["Location"])
        assert '<button type="submit" name="decision" value="allow">' in consent.text
        params = _code_from(browser.post(signed_in.headers["Location"], data={
            "csrf_token": _csrf(consent.text), "decision": "allow"}))
        assert params["state"] == state and params["iss"] == issuer  # RFC 9207

        token = rp.fetch_token(discovery["token_endpoint"], code=params["code"],
                               code_verifier=verifier, grant_type="authorization_code")
        keyset = KeySet.import_key_set(httpx.get(discovery["jwks_uri"]).json())
        id_token = jwt.decode(token["id_token"], keyset, algorithms=["RS256"]).claims
        assert id_token["iss"] == issuer and id_token["aud"] == live["client_id"]
        assert id_token["nonce"] == "n-1" and id_token["amr"] == ["pwd"]
        userinfo = rp.get(discovery["userinfo_endpoint"]).json()
        assert userinfo["sub"] == id_token["sub"]
        assert userinfo["name"] == AN["full_name"]
        assert userinfo["national_id"] == AN["identifier"]  # scope national_id, consented
        assert userinfo["national_id_scheme"] == "vn-pin"

        # SSO: a second request with prompt=none is answered with a code and no page.
        verifier2, _ = pkce_pair()
        url2, _ = rp.create_authorization_url(discovery["authorization_endpoint"], prompt="none",
                                              code_verifier=verifier2)
        assert "code" in _code_from(browser.get(url2))

        # RP-initiated logout with a valid id_token_hint: no confirmation, back to the RP.
        bye = browser.get(discovery["end_session_endpoint"], params={
            "id_token_hint": token["id_token"], "post_logout_redirect_uri": POST_LOGOUT,
            "state": "s-9"})
        assert bye.status_code in (302, 303)
        assert bye.headers["Location"].startswith(POST_LOGOUT) and "state=s-9" in bye.headers["Location"]

        # Afterwards prompt=none fails with login_required at the client.
        url3, _ = rp.create_authorization_url(discovery["authorization_endpoint"], prompt="none",
                                              code_verifier=pkce_pair()[0])
        assert _code_from(browser.get(url3))["error"] == "login_required"
