"""RFC 8176 ``amr`` of a certificate sign-in says what happened: ``pin`` means a PIN unlocked
the key, which a certificate policy OID does not say (it says where the key is, ``hwk``). Only
a QSCD key (ETSI QcSSCD: the device checks the PIN for every signature) adds ``pin``."""

from __future__ import annotations

import pytest

from idp.citizens.models import LEVEL_VERIFIED
from idp.signatures.demo_pki import POLICY_SOFTWARE
from tests.signatures.test_certificate_signin import _session_of, cms, make_account, open_page, submit


@pytest.fixture
def environ(environ):
    """The operator lists the demo CA's software-key policy as a hardware policy."""
    return {**environ, "IDP_SIGNATURE_HARDWARE_POLICIES": f"0.4.0.194112.1.2 {POLICY_SOFTWARE}"}


def test_a_hardware_policy_oid_alone_gives_hwk_but_never_pin(app, demo_pki, signer, citizen_keys):
    """binh's certificate has the (now 'hardware') policy but no QcSSCD: hwk, one factor, basic."""
    citizen_id = make_account(app, demo_pki, "binh", level=LEVEL_VERIFIED)
    browser = app.test_client()
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"])).status_code == 303
    session = _session_of(app, citizen_id)
    assert (session.acr, session.amr) == ("urn:idp:acr:basic", ["hwk"])


def test_a_qscd_key_adds_pin_because_the_device_checked_it(app, demo_pki, signer, citizen_keys):
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    browser = app.test_client()
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "an", page["challenge"])).status_code == 303
    assert sorted(_session_of(app, citizen_id).amr) == ["hwk", "pin"]
