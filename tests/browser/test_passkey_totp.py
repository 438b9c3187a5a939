"""Second factors in a real Chromium: a passkey registered and used through a CDP virtual
authenticator (``WebAuthn.enable``, ``WebAuthn.addVirtualAuthenticator``), and an authenticator
app enrolled from the secret shown on the page.

WebAuthn needs a domain as relying party ID (an IP address is refused by browsers), so this
server's issuer is ``http://localhost:<port>`` (a secure context like https)."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.factories import NGOC, PASSWORD, SAMPLE_REGISTRY
from tests.helpers import free_port, run_idp, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def localhost_server(environ, tmp_path):
    port = free_port()
    env = {**environ, "IDP_ISSUER": f"http://localhost:{port}", "IDP_LOG_LEVEL": "DEBUG"}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    with serving(env, port, tmp_path / "server.log"):
        yield f"http://localhost:{port}"


def _register_and_sign_in(page, url):
    page.goto(f"{url}/register")
    page.get_by_label("Personal identification number").fill(NGOC["identifier"])
    page.get_by_label("Full name").fill(NGOC["full_name"])
    page.get_by_label("Date of birth").fill(NGOC["birthdate"].isoformat())
    page.get_by_label("Email").fill("ngoc@example.vn")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"{url}/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/account")


def _password_again(page, url):
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{url}/login")
    page.get_by_label("Identification number, email or phone").fill(NGOC["identifier"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/login/second-factor")


def test_passkey_with_a_virtual_authenticator_and_authenticator_app(localhost_server, browser, output_dir):
    url = localhost_server
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})["authenticatorId"]
    _register_and_sign_in(page, url)

    # Register a passkey on the account page.
    page.get_by_role("link", name="Sign-in security").click()
    page.get_by_label("Name of this passkey").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_selector("text=Your recovery codes")
    assert page.locator("ul.recovery-codes li").count() == 10
    page.screenshot(path=str(output_dir) + "-recovery-codes.png", full_page=True)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"

    # Sign in again: password, then the passkey.
    _password_again(page, url)
    page.screenshot(path=str(output_dir) + "-second-factor.png", full_page=True)
    page.get_by_role("button", name="Use passkey").click()
    page.wait_for_url(f"{url}/account")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credentials[0]["signCount"] >= 1

    # Enrol an authenticator app from the secret shown in text, then sign in with a code.
    page.get_by_role("link", name="Sign-in security").click()
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.wait_for_url(f"{url}/account/security/totp")
    expect(page.locator("figure.qr svg")).to_have_count(1)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    otp = page.locator('input[name="otp"]')
    assert otp.get_attribute("autocomplete") == "one-time-code"
    assert otp.get_attribute("inputmode") == "numeric"
    otp.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Finish setting up").click()
    page.wait_for_url(f"{url}/account/security")
    _password_again(page, url)
    page.locator('input[name="otp"]').fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Continue").first.click()
    page.wait_for_url(f"{url}/account")
    page.get_by_role("link", name="Sign-in history").click()
    page.wait_for_url(f"{url}/account/history")
    history = page.locator("tbody").inner_text()
    assert "Password and passkey" in history and "Password and authenticator app" in history
    context.close()
