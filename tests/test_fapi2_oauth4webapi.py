"""External check: oauth4webapi, a certified OpenID relying-party library from npm, runs the
whole FAPI 2.0 flow against a live ``idp serve``: pushed authorization request (RFC 9126) with
private_key_jwt (RFC 7523) and PKCE, the citizen signing in through the real pages, the code
exchanged with a DPoP proof (RFC 9449), the ID token validated by the library, and UserInfo
called with the DPoP-bound token. The library is installed from npm at test time
(:mod:`tests.node_support`)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from idp import create_app
from idp.db import db
from tests.factories import AN, PASSWORD, SAMPLE_REGISTRY, make_citizen
from tests.fapi_support import new_key
from tests.helpers import free_port, run_idp, serving
from tests.node_support import node, npm_package
from tests.oidc_support import register

# A client library's view of the protocol, not of the database.
pytestmark = [pytest.mark.multiprocess, pytest.mark.one_database]

REDIRECT = "https://bhxh.example.gov.vn/callback"
SCRIPT = Path(__file__).with_name("external") / "fapi2_rp.mjs"
OAUTH4WEBAPI = ("oauth4webapi", "3.8.8")


@pytest.fixture(params=["false", "true"], ids=["no-nonce", "dpop-nonce"])
def live(environ, tmp_path, request) -> Iterator[dict]:
    """A migrated database with citizen An and a fapi2 client, served by a real idp process;
    once with server DPoP nonces (IDP_DPOP_NONCE, RFC 9449 §8), which the library must follow."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**environ, "IDP_ISSUER": issuer, "IDP_DPOP_NONCE": request.param}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    app = create_app(env)
    make_citizen(app)
    key = new_key("bhxh-2026")
    client_id, _ = register(app, client_id="bhxh", name="Bảo hiểm xã hội", redirect_uris=[REDIRECT],
                            profile="fapi2", jwks={"keys": [key.as_dict(private=False)]})
    with app.app_context():
        db.engine.dispose()
    with serving(env, port, tmp_path / "server.log"):
        yield {"issuer": issuer, "client_id": client_id, "key": key}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _sign_in_and_consent(issuer: str, authorize_url: str) -> str:
    """The citizen's browser: authorize → sign-in page → consent → the callback URL."""
    with httpx.Client(base_url=issuer) as browser:
        response = browser.get(authorize_url)
        assert response.status_code == 302, response.text[:300]
        login = browser.get(response.headers["Location"])
        next_path = parse_qs(urlsplit(str(login.url)).query)["next"][0]
        signed_in = browser.post("/login", params={"next": next_path}, data={
            "csrf_token": _csrf(login.text), "username": AN["identifier"], "password": PASSWORD})
        assert signed_in.status_code == 303
        consent = browser.get(signed_in.headers["Location"])
        done = browser.post(signed_in.headers["Location"], data={
            "csrf_token": _csrf(consent.text), "decision": "allow"})
        assert done.status_code in (302, 303), done.text[:300]
        assert done.headers["Location"].startswith(REDIRECT)
        return done.headers["Location"]


def test_oauth4webapi_runs_par_dpop_private_key_jwt_to_userinfo(live):
    library = npm_package(*OAUTH4WEBAPI) / "build" / "index.js"
    env = {"PATH": "/usr/bin:/bin", "IDP_ISSUER": live["issuer"], "CLIENT_ID": live["client_id"],
           "CLIENT_JWK": json.dumps(live["key"].as_dict(private=True)), "REDIRECT_URI": REDIRECT,
           "OAUTH4WEBAPI": library.as_uri()}
    rp = subprocess.Popen([node(), str(SCRIPT)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(rp.stdout.readline() or '{"error": "no output"}')
        assert "authorize" in first, (first, rp.stderr.read() if rp.poll() is not None else "")
        assert first["authorize"].startswith(f"{live['issuer']}/authorize?client_id=bhxh&request_uri=urn")
        assert first["expires_in"] == 60
        callback = _sign_in_and_consent(live["issuer"], first["authorize"])
        output, errors = rp.communicate(callback + "\n", timeout=60)
    finally:
        if rp.poll() is None:
            rp.kill()
    result = json.loads(output.strip().splitlines()[-1])
    assert "error" not in result, (result, errors)
    assert result["token_type"].lower() == "dpop"
    assert result["userinfo"]["sub"] == result["sub"]
    assert result["userinfo"]["name"] == AN["full_name"]
