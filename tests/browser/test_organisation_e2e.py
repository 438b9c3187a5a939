"""Acting for an organisation end to end, in a real browser, across real processes (idp and the
two sample relying parties, as ``./scripts/run`` starts them).

The pages of acting for others (the list, an organisation's page, "Continue as") are checked
against WCAG 2.1 AA with axe-core on the way.

The legal representative (An) activates his company and adds an employee (Ngọc); Ngọc signs in
to the portal with "Act for your organisation" and chooses the company; the agency system, by
single sign-on, shows it serves the company's business; An removes Ngọc; the portal's next
refresh of Ngọc's tokens is refused by idp.
"""

from __future__ import annotations

import pytest

from idp import create_app
from idp.citizens.models import LEVEL_VERIFIED, Citizen
from idp.db import db
from tests.browser.accessibility import assert_wcag_21_aa
from tests.browser.test_sso_e2e import complete_step_up, enrol_authenticator_app, sandbox, signed_in
from tests.factories import AN, NGOC, PASSWORD, ROOT, make_citizen
from tests.helpers import run_idp

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]

COMPANY = "Công ty TNHH Phần mềm Sao Mai (demo)"
__all__ = ["sandbox"]


@pytest.fixture
def org_sandbox(sandbox):
    """The sandbox with the sample organisations; An verified in person, Ngọc registered."""
    result = run_idp(["orgs", "import", str(ROOT / "scripts" / "demo_organisations.csv")], sandbox.environ)
    assert result.returncode == 0, result.stderr
    app = create_app(sandbox.environ)
    make_citizen(app, NGOC, email="ngoc@example.vn")
    with app.app_context():
        db.session.query(Citizen).update({"level": LEVEL_VERIFIED})
        db.session.commit()
        db.engine.dispose()
    return sandbox


def sign_in_as(page, person) -> None:
    page.locator('input[name="username"]').fill(person["identifier"])
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main form button[type="submit"]').click()


def test_representative_adds_an_employee_who_acts_for_the_company_until_removed(org_sandbox, browser,
                                                                                output_dir):
    idp, portal, agency = org_sandbox.idp, org_sandbox.portal, org_sandbox.agency
    representative = browser.new_context(locale="en-US").new_page()
    employee = browser.new_context(locale="en-US").new_page()

    # 1. An, the company's legal representative, activates it and adds Ngọc as an employee.
    representative.goto(f"{idp}/account/acting-for")
    sign_in_as(representative, AN)
    representative.wait_for_url(f"{idp}/account/acting-for")
    assert_wcag_21_aa(representative)
    representative.get_by_role("button", name=f"Activate {COMPANY}").click()
    representative.wait_for_url(f"{idp}/account/acting-for/organisations/**")
    representative.get_by_label("Personal identification number").fill(NGOC["identifier"])
    representative.get_by_label("Roles", exact=True).fill("employee, accountant")
    representative.get_by_role("button", name="Add member").click()
    representative.wait_for_load_state()
    assert NGOC["full_name"] in representative.locator("#members").inner_text()
    assert_wcag_21_aa(representative)
    representative.screenshot(path=f"{output_dir}-1-members.png", full_page=True)

    # 2. Ngọc signs in to the portal for the company: idp asks who she acts as.
    employee.goto(portal)
    employee.locator("#sign-in-org").click()
    employee.wait_for_url(f"{idp}/authorize**")  # the sign-in page, in its answer
    sign_in_as(employee, NGOC)
    employee.get_by_label(f"{COMPANY} (your roles: accountant, employee)").check()
    assert_wcag_21_aa(employee)
    employee.screenshot(path=f"{output_dir}-2-choose.png", full_page=True)
    employee.locator('button[name="decision"][value="allow"]').click()
    employee.wait_for_url(f"{portal}/")
    assert signed_in(employee)
    assert employee.locator("#org-name").inner_text() == COMPANY
    assert employee.locator("#org-roles").inner_text() == "accountant, employee"

    # 3. The agency system, by single sign-on (a second factor for its level), serves the company.
    secret = enrol_authenticator_app(employee, idp)
    employee.goto(agency)
    employee.locator("#sign-in").click()
    employee.wait_for_url(f"{idp}/**")
    complete_step_up(employee, secret)
    employee.get_by_label(f"{COMPANY} (your roles: accountant, employee)").check()
    employee.locator('button[name="decision"][value="allow"]').click()
    employee.wait_for_url(f"{agency}/")
    assert employee.locator("#org-name").inner_text() == COMPANY
    employee.screenshot(path=f"{output_dir}-3-agency.png", full_page=True)

    # 4. An removes Ngọc from the company.
    representative.reload()
    representative.get_by_role("button", name=f"Remove {NGOC['full_name']}").click()
    representative.wait_for_load_state()
    assert NGOC["full_name"] not in representative.locator("#members").inner_text()

    # 5. The portal's next refresh of Ngọc's tokens is refused.
    employee.goto(portal)
    employee.locator("#refresh").click()
    employee.wait_for_url(f"{portal}/")
    assert employee.locator("#refresh-result").inner_text() == "Refresh refused: invalid_grant"
    employee.screenshot(path=f"{output_dir}-4-refresh-refused.png", full_page=True)
