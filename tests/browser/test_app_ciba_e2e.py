"""CIBA end to end across real processes: the sample agency's call-centre page
(``clients/agency``, "confirm the identity of the caller") asks idp to confirm citizen An; the
reference wallet (``clients/wallet``, playing An's phone) lists the request with its binding
message and approves it, and the agency shows the caller confirmed from the tokens it polled;
then the same with a refusal."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from idp import create_app
from idp.citizens.models import Citizen
from idp.db import db
from tests.app_support import enrol_wallet_live, run_wallet, verify_level
from tests.browser.test_sso_e2e import sandbox  # noqa: F401 - fixture
from tests.factories import AN, PASSWORD

# Processes talking to each other; CIBA on both databases is tests/test_oidc_ciba.py's.
pytestmark = [pytest.mark.multiprocess, pytest.mark.one_database]


@pytest.fixture
def phone(sandbox, tmp_path):  # noqa: F811 - the imported fixture
    app = create_app(sandbox.environ)
    with app.app_context():
        citizen_id = db.session.query(Citizen.id).scalar()
    verify_level(app, citizen_id)
    with app.app_context():
        db.engine.dispose()
    home = tmp_path / "phone"
    enrolled = enrol_wallet_live(sandbox.idp, home, AN["identifier"], PASSWORD)
    assert enrolled.returncode == 0, enrolled.stderr
    return home


def _ask(agency: httpx.Client) -> tuple[str, str]:
    """The clerk types the caller's number; returns the check's page and the binding message."""
    answer = agency.post("/caller", data={"national_id": AN["identifier"]})
    assert answer.status_code == 303, answer.text
    check = answer.headers["Location"]
    page = agency.get(check).text
    binding = re.search(r'id="binding">([^<]+)<', page).group(1)
    assert 'data-state="pending"' in page
    return check, binding


def _pending_request(phone, binding: str) -> str:
    listed = run_wallet(phone, "pending")
    assert listed.returncode == 0, listed.stderr
    assert binding in listed.stdout and AN["identifier"] not in listed.stdout
    return listed.stdout.split()[0]


def _wait_for_result(agency: httpx.Client, check: str) -> str:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        page = agency.get(check).text
        state = re.search(r'data-state="(\w+)"', page).group(1)
        if state != "pending":
            return page
        time.sleep(1)
    raise AssertionError("the agency never saw an answer")


def test_confirm_the_identity_of_a_caller_approve_then_deny(sandbox, phone):  # noqa: F811
    with httpx.Client(base_url=sandbox.agency) as agency:
        check, binding = _ask(agency)
        request_id = _pending_request(phone, binding)
        approved = run_wallet(phone, "approve", request_id)
        assert approved.returncode == 0 and "Confirmed" in approved.stdout, approved.stderr
        page = _wait_for_result(agency, check)
        assert 'data-state="confirmed"' in page
        assert re.search(r'id="who">([^<]+)<', page).group(1) == AN["full_name"]
        assert re.search(r'id="acr">([^<]+)<', page).group(1) == "urn:idp:acr:substantial"

        check, binding = _ask(agency)
        denied = run_wallet(phone, "deny", _pending_request(phone, binding))
        assert denied.returncode == 0 and "Refused" in denied.stdout, denied.stderr
        assert 'data-state="denied"' in _wait_for_result(agency, check)
