"""Account recovery by signature certificate (level-2 accounts): after an origin-bound
certificate sign-in, which a phishing page cannot relay, the citizen sets a new password without
the old one; a pasted (relayable) signature does not allow it, nor does a level-1 account."""

from __future__ import annotations

import re

from idp.auth.models import PasswordCredential
from idp.auth.password import verify_password
from idp.citizens.models import LEVEL_SELF_REGISTERED, LEVEL_VERIFIED
from idp.db import db
from tests.signatures.test_certificate_origin_bound import (  # noqa: F401 - fixtures
    _browser,
    _continue,
    _sign_with_signer,
    environ,
    issuer,
    serve,
)
from tests.signatures.test_certificate_signin import cms, make_account, open_page, submit

NEW_PASSWORD = "a brand new passphrase 42"


def _password_page(browser) -> str:
    page = browser.get("/account/password", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _set(browser, html: str, **extra):
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return browser.post("/account/password", data={"csrf_token": token, "password": NEW_PASSWORD,
                                                    "password_confirm": NEW_PASSWORD, **extra})


def _has_password(app, citizen_id: int, password: str) -> bool:
    with app.app_context():
        credential = db.session.query(PasswordCredential).filter_by(citizen_id=citizen_id).one_or_none()
        return credential is not None and verify_password(credential.hash, password)


def test_an_origin_bound_certificate_proof_lets_a_level_2_citizen_set_a_new_password(
        app, issuer, demo_pki, serve):  # noqa: F811
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    browser = _browser(app)
    page = browser.get("/login/certificate").get_data(as_text=True)
    status, headers, _ = _sign_with_signer(browser, serve("an"), page, origin=issuer)
    assert status == 303
    signed_in, _ = _continue(browser, headers["Location"])
    assert signed_in.status_code == 303
    html = _password_page(browser)
    assert 'name="current_password"' not in html
    assert "You proved who you are with your signature certificate" in html
    assert _set(browser, html).status_code == 303
    assert _has_password(app, citizen_id, NEW_PASSWORD)
    # The proof is spent: the next change asks for the current password again.
    assert 'name="current_password"' in _password_page(browser)


def test_a_pasted_certificate_signature_does_not_replace_the_current_password(
        app, demo_pki, signer, citizen_keys):
    make_account(app, demo_pki, "binh", level=LEVEL_VERIFIED)
    browser = _browser(app)
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"])).status_code == 303
    html = _password_page(browser)
    assert 'name="current_password"' in html
    assert _set(browser, html).status_code == 422


def test_a_level_1_account_cannot_recover_by_certificate(app, issuer, demo_pki, serve):  # noqa: F811
    """An unqualified proof cannot raise the level; a level-1 account keeps needing its password."""
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_SELF_REGISTERED)
    browser = _browser(app)
    page = browser.get("/login/certificate").get_data(as_text=True)
    status, headers, _ = _sign_with_signer(browser, serve("an"), page, origin=issuer)
    signed_in, _ = _continue(browser, headers["Location"])
    assert signed_in.status_code == 303
    with app.app_context():
        from idp.citizens.models import Citizen

        level = db.session.get(Citizen, citizen_id).level
    html = _password_page(browser)
    # A qualified certificate raises the account to level 2 (then recovery is allowed).
    assert ('name="current_password"' in html) == (level < LEVEL_VERIFIED)
