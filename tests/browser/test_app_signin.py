"""Sign in with the identity app, end to end in a real browser across real processes (idp, the
sample portal, and the reference wallet ``clients/wallet`` run as the phone): the login page
offers the app, the test reads the QR code from the page as a phone camera would (zxing-cpp),
picks the number the browser shows in the wallet and approves; the browser, polling, continues
by itself and lands signed in at the portal with ``acr`` substantial. The new pages pass the
WCAG 2.1 AA axe-core check."""

from __future__ import annotations

import re

import pytest

from idp import create_app
from idp.citizens.models import Citizen
from idp.db import db
from tests.app_support import enrol_wallet_live, run_wallet, verify_level
from tests.browser.accessibility import assert_wcag_21_aa
from tests.browser.test_sso_e2e import consent_if_asked, sandbox, signed_in  # noqa: F401 - fixture
from tests.factories import AN, PASSWORD
from tests.mfa_support import decode_qr_svg

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]


@pytest.fixture
def verified_sandbox(sandbox):  # noqa: F811 - the imported fixture
    """The sandbox, with citizen An identity-verified (level 2) so the app can be added."""
    app = create_app(sandbox.environ)
    with app.app_context():
        citizen_id = db.session.query(Citizen.id).scalar()
        db.engine.dispose()
    verify_level(app, citizen_id)
    with app.app_context():
        db.engine.dispose()
    return sandbox


def test_scan_the_qr_code_with_the_app_and_land_signed_in_at_the_portal(verified_sandbox, browser, tmp_path,
                                                                       output_dir):
    live = verified_sandbox
    phone = tmp_path / "phone"
    enrolled = enrol_wallet_live(live.idp, phone, AN["identifier"], PASSWORD)
    assert enrolled.returncode == 0, enrolled.stderr

    page = browser.new_context(locale="en-US").new_page()
    page.goto(live.portal)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{live.idp}/authorize**")  # the sign-in page, in its answer
    assert_wcag_21_aa(page)
    page.get_by_role("link", name="Sign in with the app").click()
    page.wait_for_url(f"{live.idp}/login/app**")
    assert_wcag_21_aa(page)
    svg = page.locator("figure.qr").inner_html()
    link = decode_qr_svg(svg)
    assert re.fullmatch(rf"{re.escape(live.idp)}/app/signin/[\w-]+", link), link
    number = page.locator("#app-number").inner_text().strip()
    page.screenshot(path=f"{output_dir}-qr.png")

    scanned = run_wallet(phone, "scan", link, "--pick", number, "--yes")
    assert scanned.returncode == 0, scanned.stderr
    assert "Approved" in scanned.stdout and "Chrome" in scanned.stdout

    # No click: the page polls, sees the approval and continues the authorization.
    page.wait_for_url(re.compile(rf"({re.escape(live.portal)}|{re.escape(live.idp)}/authorize).*"),
                      timeout=15000)
    consent_if_asked(page)
    page.wait_for_url(f"{live.portal}/")
    assert signed_in(page)
    claims = page.locator("#claims").inner_text()
    assert "urn:idp:acr:substantial" in claims
    assert "swk" in claims and "pin" in claims
    page.screenshot(path=f"{output_dir}-portal.png")

    # The account page lists the app; "Add the app" shows the enrolment QR code. Both WCAG 2.1 AA.
    page.goto(f"{live.idp}/account/security")
    assert "Điện thoại của An" in page.locator("main").inner_text()
    assert_wcag_21_aa(page)
    page.get_by_role("button", name="Add the app").click()
    page.wait_for_selector("figure.qr")
    assert "/app/enrol/" in decode_qr_svg(page.locator("figure.qr").inner_html())
    assert_wcag_21_aa(page)
