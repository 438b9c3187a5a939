"""README's "Administration" worked example, run verbatim by the installed ``idp`` command on an
empty database, then the agency's first sign-in over HTTP: the documentation cannot rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from idp import create_app
from idp.db import db
from tests.factories import ROOT
from tests.helpers import IDP, idp_env
from tests.oidc_support import basic, pkce_pair, sign_in_page_resume

CALLBACK = "https://thue.example.gov.vn/callback"


def _example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- admin-example -->")[1].split("<!-- /admin-example -->")[0]
    return block.split("```sh\n")[1].split("```")[0]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_readme_example_registers_an_agency_system_up_to_its_first_sign_in(environ, tmp_path: Path):
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    env = idp_env(environ)
    env["PATH"] = f"{Path(IDP).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", _example()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "client.created" in done.stdout and "admin:" in done.stdout
    registered = json.loads((tmp_path / "thue-portal.json").read_text())
    assert registered["client_id"] == "thue-portal" and registered["client_secret"]

    app = create_app(environ)
    browser = app.test_client()
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": "thue-portal", "redirect_uri": CALLBACK,
             "scope": "openid profile national_id", "state": "s-1", "nonce": "n-1",
             "code_challenge": challenge, "code_challenge_method": "S256"}
    login = browser.get("/authorize?" + urlencode(query))  # answered with the sign-in page
    next_path = sign_in_page_resume(login)
    signed_in = browser.post("/login", query_string={"next": next_path}, data={
        "csrf_token": _csrf(login.get_data(as_text=True)), "username": "001085888274",
        "password": "correct horse battery"})
    assert signed_in.status_code == 303
    consent = browser.get(signed_in.headers["Location"])
    assert "Cổng thuế điện tử" in consent.get_data(as_text=True)
    back = browser.post(signed_in.headers["Location"], data={
        "csrf_token": _csrf(consent.get_data(as_text=True)), "decision": "allow"})
    assert back.status_code == 302 and back.headers["Location"].startswith(CALLBACK)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    tokens = browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": CALLBACK, "code_verifier": verifier},
                          headers=basic("thue-portal", registered["client_secret"]))
    assert tokens.status_code == 200, tokens.get_json()
    userinfo = browser.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens.get_json()['access_token']}"}).get_json()
    assert userinfo["national_id"] == "001085888274" and userinfo["name"] == "Nguyễn Văn An"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
