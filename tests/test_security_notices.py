"""Security notices over a real SMTP server: every verified contact is told when a second
factor is added or removed, when failed sign-ins lock the account, and when a new browser signs
in (unless the citizen turned that notice off); a known browser is not announced again."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.db import db
from tests.factories import AN, load_registry, make_citizen, page_csrf, sign_in
from tests.mfa_support import enrol_totp
from tests.notify_support import deliver
from tests.schema import create_tables


@pytest.fixture
def napp(notify_environ):
    application = create_app({**notify_environ, "IDP_LOGIN_MAX_FAILURES": "3",
                              "IDP_LOGIN_RATE_LIMIT": "1000/minute"})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    load_registry(application)
    make_citizen(application, AN, email="an@example.vn")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _subjects(app, mailbox) -> list[str]:
    deliver(app)
    return [m["Subject"] for m in mailbox.emails_to("an@example.vn")]


def test_adding_and_removing_an_authenticator_app_is_notified(napp, mailbox):
    browser = napp.test_client()
    sign_in(browser)
    enrol_totp(browser)
    # In the language of the page the citizen used (Vietnamese, the default here).
    assert _subjects(napp, mailbox) == ["Một yếu tố xác thực thứ hai đã được thêm vào tài khoản"]
    token = page_csrf(browser, "/account/security")
    assert browser.post("/account/security/totp/remove", data={"csrf_token": token}).status_code == 303
    assert _subjects(napp, mailbox)[-1] == "Một yếu tố xác thực thứ hai đã bị gỡ khỏi tài khoản"


def test_failed_sign_ins_that_lock_the_account_are_notified_once(napp, mailbox):
    attacker = napp.test_client()
    for _ in range(4):
        sign_in(attacker, password="wrong password")
    assert _subjects(napp, mailbox) == ["Your account was locked after failed sign-ins"]


def test_a_new_browser_is_notified_a_known_one_is_not_and_the_notice_can_be_turned_off(napp, mailbox):
    laptop, phone = napp.test_client(), napp.test_client()
    assert sign_in(laptop).status_code == 303  # the first browser of the account: nothing to tell
    assert _subjects(napp, mailbox) == []
    assert sign_in(phone).status_code == 303
    assert _subjects(napp, mailbox) == ["New sign-in to your account"]
    laptop.post("/signout", data={"csrf_token": page_csrf(laptop, "/account")})
    assert sign_in(laptop).status_code == 303  # the laptop's device cookie is known
    assert len(_subjects(napp, mailbox)) == 1

    token = page_csrf(laptop, "/account")
    assert laptop.post("/account/notices", data={"csrf_token": token}).status_code == 303  # unchecked
    tablet = napp.test_client()
    assert sign_in(tablet).status_code == 303
    assert len(_subjects(napp, mailbox)) == 1


