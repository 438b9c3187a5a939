"""The demo data ``./scripts/run`` loads: the sample registry and a citizen who can sign in."""

from __future__ import annotations

import subprocess
import sys

from idp import create_app
from idp.accounts import demo
from idp.db import db
from tests.factories import ROOT, sign_in
from tests.helpers import idp_env, run_idp


def test_demo_data_loads_twice_and_prints_a_working_sign_in(environ):
    assert run_idp(["db", "upgrade"], environ).returncode == 0
    for _ in range(2):  # idempotent: ./scripts/run calls it at every start
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_data.py")],
                                env=idp_env(environ), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:8000/login  username {demo.DEMO_IDENTIFIER}" in result.stdout
    assert f"password {demo.DEMO_PASSWORD}" in result.stdout
    app = create_app(environ)
    client = app.test_client()
    assert sign_in(client, demo.DEMO_IDENTIFIER, demo.DEMO_PASSWORD).status_code == 303
    assert "Nguyễn Văn An" in client.get("/account").get_data(as_text=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_demo_data_makes_a_trusted_demo_pki_once_and_the_demo_citizen_signs_in_with_it(environ, tmp_path):
    """``./scripts/run``'s demo PKI: made into the instance folder once, its root installed in
    ``keys/trust/``, a PKCS#12 for the demo citizen, and the printed signer command works."""
    import html
    import os
    import re
    import shlex

    assert run_idp(["db", "upgrade"], environ).returncode == 0
    outputs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_data.py")],
                                env=idp_env(environ), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    pki = tmp_path / "instance" / "demo-pki"
    assert f"demo PKI:      {pki} (made now;" in outputs[0]
    assert f"demo PKI:      {pki} (kept;" in outputs[1]  # idempotent: not made again
    trusted = tmp_path / "keys" / "trust" / "demo-root-ca.pem"
    assert trusted.read_bytes() == (pki / "root-ca.pem").read_bytes()
    assert "http://127.0.0.1:8000/login/certificate" in outputs[1]
    command = re.search(r"^  (IDP_SIGNER_PASSWORD=.*--challenge '<challenge>')$", outputs[1], re.M).group(1)
    words = shlex.split(command)
    password = words[0].split("=", 1)[1]
    p12 = words[words.index("--p12") + 1]
    assert p12 == str(pki / "demo-citizen.p12")

    app = create_app({**environ, "IDP_SIGNATURE_CRL_SOURCES": str(pki)})
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/login/certificate").get_data(as_text=True)
    challenge = html.unescape(re.search(r'<pre id="challenge"[^>]*>([^<]+)</pre>', page).group(1))
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    signed = subprocess.run([sys.executable, str(ROOT / "clients" / "signer" / "idp_signer.py"),
                             "--p12", p12, "--challenge", challenge],
                            env={**os.environ, "IDP_SIGNER_PASSWORD": password},
                            capture_output=True, text=True, timeout=60, check=True).stdout
    response = client.post("/login/certificate", data={"csrf_token": csrf, "challenge": challenge,
                                                       "signature": signed})
    assert response.status_code == 303, html.unescape(response.get_data(as_text=True))[:1500]
    assert "Nguyễn Văn An" in client.get("/account").get_data(as_text=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
