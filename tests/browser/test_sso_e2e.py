"""Single sign-on end to end, in a real browser, across real processes: idp (``idp serve``) and
the two sample relying parties (``clients/portal``, ``clients/agency``) on loopback ports.

A citizen signs in at the portal, opens the agency system and lands signed in without typing
anything again (only a second factor, if the agency's ``acr_values`` require one the session
lacks), signs out at the agency, and both apps then show "signed out": the agency because the
citizen came back from idp's logout, the portal because it received a back-channel logout
token (its front-channel iframe is blocked in this test, so only the back channel can do it).

The agency is a FAPI 2.0 client (PAR, private_key_jwt with the key it publishes at
``/jwks.json``, DPoP): the browser only ever carries a ``request_uri`` to ``/authorize``, the
agency's page shows a DPoP access token, and ``idp clients show`` says profile fapi2.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from idp import create_app
from idp.db import db
from idp.oidc.clients.demo import register_sample_clients
from tests.factories import AN, PASSWORD, ROOT, SAMPLE_REGISTRY, make_citizen
from tests.helpers import IDP, free_port, idp_env, run_idp, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]


@dataclass
class Sandbox:
    idp: str
    portal: str
    agency: str
    environ: dict
    logs: Path


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as output:
        return subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)


@pytest.fixture
def sandbox(environ, tmp_path) -> Iterator[Sandbox]:
    """What ``./scripts/run`` starts: idp with the sample registry, citizen An and the two
    sample clients (registered by the demo-data code), and the two apps."""
    idp_url = f"http://127.0.0.1:{free_port()}"
    portal_url, agency_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    env = {**environ, "IDP_ISSUER": idp_url, "IDP_BACKCHANNEL_POLL_INTERVAL": "1"}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    app = create_app(env)
    make_citizen(app)
    with app.app_context():
        clients = register_sample_clients({"portal": portal_url, "agency": agency_url},
                                          tmp_path / "sample-clients.json")
        db.engine.dispose()
    processes = [_start([IDP, "serve", "--port", idp_url.rsplit(":", 1)[1], "--workers", "1"],
                        idp_env(env), tmp_path / "idp.log")]
    callcentre = clients["demo-agency-callcentre"]
    for name, url, extra in (
            ("portal", portal_url, {"RP_AGENCY_URL": agency_url,
                                    "RP_CLIENT_SECRET": clients["demo-portal"]["client_secret"]}),
            # The agency is a FAPI 2.0 client: no secret, its key generated at first start into
            # RP_KEY_FILE; its call-centre page (CIBA) has a client of its own.
            ("agency", agency_url, {"RP_KEY_FILE": str(tmp_path / "agency-key.json"),
                                    "RP_CIBA_CLIENT_ID": callcentre["client_id"],
                                    "RP_CIBA_CLIENT_SECRET": callcentre["client_secret"]})):
        rp_env = {**idp_env({}), "RP_ISSUER": idp_url, "RP_CLIENT_ID": f"demo-{name}",
                  "RP_BASE_URL": url, **extra}
        processes.append(_start([sys.executable, str(ROOT / "clients" / name / "app.py")], rp_env,
                                tmp_path / f"{name}.log"))
    try:
        for url, process in zip((idp_url + "/healthz", portal_url, agency_url), processes, strict=True):
            wait_for(url, process=process)
        yield Sandbox(idp_url, portal_url, agency_url, env, tmp_path)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def sign_in_at_idp(page) -> None:
    page.locator('input[name="username"]').fill(AN["identifier"])
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main form button[type="submit"]').click()


def enrol_authenticator_app(page, idp: str) -> str:
    """On the account page: set up an authenticator app from the secret shown in text (the QR
    code carries the same otpauth URI); returns the secret, as the citizen's phone keeps it.
    The page that follows shows the ten recovery codes once."""
    page.goto(f"{idp}/account/security")
    page.get_by_role("link", name="Set up an authenticator app").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.locator('input[name="otp"]').fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Finish setting up").click()
    page.wait_for_load_state()
    assert "Your authenticator app is set up" in page.locator("main").inner_text()
    return secret


def complete_step_up(page, secret: str) -> None:
    """The agency asks for ``urn:idp:acr:substantial`` and the SSO session has only the
    password: idp asks for the second factor alone (no password), as OIDC Core 3.1.2.1 lets it.
    The code is the next time step's, since the enrolment code of this step is spent (replay
    refused) and one step of drift is allowed."""
    page.wait_for_selector('input[name="otp"]')
    assert page.locator('input[name="password"]').count() == 0
    page.locator('input[name="otp"]').fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Continue").first.click()


def consent_if_asked(page) -> None:
    allow = page.locator('button[name="decision"][value="allow"]')
    if allow.count():
        allow.click()


def signed_in(page) -> bool:
    return page.locator("#status").get_attribute("data-signed-in") == "true"


def test_sign_in_once_use_two_services_sign_out_everywhere(sandbox, browser, output_dir):
    context = browser.new_context(locale="en-US")
    # Only the back channel may tell the portal: its front-channel iframe never loads.
    blocked = []
    context.route(f"{sandbox.portal}/frontchannel-logout**",
                  lambda route: (blocked.append(route.request.url), route.abort()))
    page = context.new_page()

    # 1. The portal: sign in with the national ID (password), consent once.
    page.goto(sandbox.portal)
    assert not signed_in(page)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{sandbox.idp}/authorize**")  # the sign-in page, in its answer
    sign_in_at_idp(page)
    consent_if_asked(page)
    page.wait_for_url(f"{sandbox.portal}/")
    assert signed_in(page)
    assert page.locator("#who").inner_text() == AN["full_name"]
    claims = page.locator("#claims").inner_text()
    assert AN["identifier"] in claims and "national_id" in claims  # scope national_id, public sub
    assert page.locator("#token-type").inner_text() == "Bearer"  # the portal is a plain client
    page.screenshot(path=f"{output_dir}-1-portal-signed-in.png", full_page=True)

    # The citizen protects the account with an authenticator app (needed by the agency).
    secret = enrol_authenticator_app(page, sandbox.idp)

    # 2. The agency, a FAPI 2.0 client: no password typed again; only a step-up if idp asks for
    # one. Its request was pushed (PAR, private_key_jwt): the browser carries only a request_uri.
    page.goto(sandbox.agency)
    assert not signed_in(page)
    navigations = []
    page.on("request", lambda r: navigations.append(r.url) if r.is_navigation_request() else None)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{sandbox.idp}/**")
    authorize = [url for url in navigations if url.startswith(f"{sandbox.idp}/authorize")]
    assert re.fullmatch(rf"{re.escape(sandbox.idp)}/authorize\?client_id=demo-agency&request_uri="
                        r"urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A[\w-]+", authorize[0]), authorize
    assert "/login?" not in page.url, "idp asked for the password again: no single sign-on"
    complete_step_up(page, secret)
    page.screenshot(path=f"{output_dir}-2-agency-step-up-done.png", full_page=True)
    consent_if_asked(page)
    page.wait_for_url(f"{sandbox.agency}/")
    assert signed_in(page)
    assert page.locator("#who").inner_text() == AN["full_name"]
    agency_claims = page.locator("#claims").inner_text()
    assert AN["identifier"] not in agency_claims  # the agency did not ask for national_id
    assert "urn:idp:acr:substantial" in agency_claims
    assert page.locator("#token-type").inner_text() == "DPoP"  # bound to the agency's key
    page.screenshot(path=f"{output_dir}-2-agency-signed-in.png", full_page=True)

    # The citizen's account page lists both services under this session.
    page.goto(f"{sandbox.idp}/account/sessions")
    services = page.locator("ul.services li").all_inner_texts()
    assert services == ["Cổng Dịch vụ công quốc gia (demo)", "Hệ thống đăng ký đất đai (demo)"]
    page.screenshot(path=f"{output_dir}-3-account-sessions.png", full_page=True)

    # 3. Sign out at the agency: RP-initiated logout ends the SSO session, back to the agency.
    page.goto(sandbox.agency)
    page.locator("#sign-out").click()
    page.wait_for_url(f"{sandbox.agency}/**", timeout=15000)
    assert not signed_in(page)
    page.screenshot(path=f"{output_dir}-4-agency-signed-out.png", full_page=True)
    assert blocked, "idp's logout page should have framed the portal's front-channel logout URI"

    # 4. The portal shows signed out too: its session was dropped by the back-channel logout.
    deadline = time.monotonic() + 15
    page.goto(sandbox.portal)
    while signed_in(page) and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    assert not signed_in(page), "the portal did not receive the back-channel logout"
    page.screenshot(path=f"{output_dir}-5-portal-signed-out.png", full_page=True)

    # idp recorded both deliveries as delivered.
    listed = run_idp(["logout-queue", "list", "--json"], sandbox.environ)
    assert listed.returncode == 0, listed.stderr
    deliveries = {row["client_id"]: row for row in json.loads(listed.stdout)}
    assert deliveries["demo-portal"]["status"] == "delivered"
    assert deliveries["demo-agency"]["status"] == "delivered"
    shown = run_idp(["clients", "show", "demo-agency", "--json"], sandbox.environ)
    assert shown.returncode == 0, shown.stderr
    agency = json.loads(shown.stdout)
    assert agency["profile"] == "fapi2" and agency["token_endpoint_auth_method"] == "private_key_jwt"
    assert agency["jwks_uri"] == f"{sandbox.agency}/jwks.json" and agency["live_secrets"] == 0
    context.close()
