"""Playing the citizen's identity app in tests: the reference wallet's own message code
(``clients/wallet/wallet.py``: keys, ES256 compact JWS) driven through the Flask test client,
and the wallet program itself run as a subprocess against a live server."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update

from idp.citizens.models import Citizen
from idp.db import db
from tests.factories import ROOT, page_csrf
from tests.mfa_support import decode_qr_svg

ISSUER = "http://127.0.0.1:8000"
WALLET = ROOT / "clients" / "wallet" / "wallet.py"
PIN = "246810"

_spec = importlib.util.spec_from_file_location("idp_wallet", WALLET)
wallet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wallet)


def verify_level(app, citizen_id: int, level: int = 2) -> None:
    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id == citizen_id).values(level=level))
        db.session.commit()


def qr_link(html: str) -> str:
    """The link a phone camera reads from the page's QR code."""
    return decode_qr_svg(re.search(r"<svg.*?</svg>", html, re.S).group(0))


def enrolment_link(client) -> str:
    """Press "Add the app" on the account page (signed in) and read its QR code."""
    token = page_csrf(client, "/account/security")
    page = client.post("/account/security/app", data={"csrf_token": token})
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return qr_link(page.get_data(as_text=True))


def path_of(link: str) -> str:
    assert link.startswith(ISSUER), link
    return link[len(ISSUER):]


class App:
    """One enrolled app: its key and device id."""

    def __init__(self, key=None, device_id: str | None = None):
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.device_id = device_id

    def enrol_message(self, link: str, name: str = "Điện thoại của An", **extra) -> str:
        header = {"alg": "ES256", "typ": wallet.ENROL_TYPE, "jwk": wallet.public_jwk(self.key)}
        payload = {"aud": ISSUER, "iat": int(time.time()), "enrolment": link.rsplit("/", 1)[1],
                   "device_name": name, **extra}
        return wallet.sign(self.key, header, payload)

    def enrol(self, client, link: str, **kwargs):
        response = client.post(path_of(link), data=self.enrol_message(link, **kwargs),
                               content_type="application/jose")
        if response.status_code == 201:
            self.device_id = response.get_json()["device_id"]
        return response

    def message(self, typ: str, payload: dict, *, key=None, iat: int | None = None) -> str:
        header = {"alg": "ES256", "typ": typ, "kid": self.device_id}
        body = {"aud": ISSUER, "iat": int(time.time()) if iat is None else iat, **payload}
        return wallet.sign(key or self.key, header, body)

    def answer(self, client, link: str, choice: int, decision: str = "approve", **kwargs):
        request_id = link.rsplit("/", 1)[1]
        body = self.message(wallet.SIGNIN_TYPE, {"request_id": request_id, "choice": choice,
                                                 "decision": decision}, **kwargs)
        return client.post(path_of(link), data=body, content_type="application/jose")

    def ciba(self, client, path: str, payload: dict):
        return client.post(path, data=self.message(wallet.CIBA_TYPE, payload),
                           content_type="application/jose")


def sign_in_page(client, **query) -> tuple[str, int, str]:
    """GET /login/app: (the QR code's link, the number shown, the page)."""
    page = client.get("/login/app", query_string=query)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    number = int(re.search(r'id="app-number">(\d+)<', html).group(1))
    return qr_link(html), number, html


def run_wallet(home, *args: str, pin: str = PIN, env: dict | None = None) -> subprocess.CompletedProcess:
    """The reference wallet program, its PIN given on a pipe (``--pin-fd``)."""
    read, write = os.pipe()
    os.write(write, (pin + "\n").encode())
    os.close(write)
    try:
        command = [sys.executable, str(WALLET), "--home", str(home), "--pin-fd", str(read), *args]
        return subprocess.run(command, pass_fds=(read,), capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})}, check=False)
    finally:
        os.close(read)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def enrol_wallet_live(idp: str, home, username: str, password: str, name: str = "Điện thoại của An"):
    """On a live server: sign in with the password, press "Add the app", read the QR code as a
    camera would, and run ``wallet enrol`` with its link. Returns the wallet's run."""
    import httpx

    with httpx.Client(base_url=idp, headers={"Accept-Language": "en"}, follow_redirects=True) as http:
        token = _csrf(http.get("/login").text)
        signed = http.post("/login", data={"csrf_token": token, "username": username, "password": password})
        assert signed.status_code == 200 and "/account" in str(signed.url), signed.text[:300]
        token = _csrf(http.get("/account/security").text)
        page = http.post("/account/security/app", data={"csrf_token": token})
        assert page.status_code == 200, page.text[:300]
        link = qr_link(page.text)
    return run_wallet(home, "enrol", link, "--name", name)
