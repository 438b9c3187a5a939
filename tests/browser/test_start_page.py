"""The issuer's root in a real browser, in Vietnamese and in English: what the service is,
sign-in, registration and the help desk, WCAG 2.1 AA clean (axe-core); signed in, the account."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.db import db
from tests.browser.accessibility import assert_wcag_21_aa
from tests.factories import AN, PASSWORD, make_citizen

pytestmark = pytest.mark.browser

HELP_PHONE = "1900 1234"
HELP_URL = "https://help.example.gov.vn/"


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_HELP_DESK_PHONE": HELP_PHONE, "IDP_HELP_DESK_URL": HELP_URL}


@pytest.mark.parametrize(("locale", "lang", "words"), [
    ("vi-VN", "vi", {"h1": "Đăng nhập dịch vụ công bằng một tài khoản",
                     "sign_in": "Đăng nhập vào tài khoản của bạn", "register": "Đăng ký",
                     "help": "Hỗ trợ", "help_url": "Trang hỗ trợ trực tuyến"}),
    ("en-GB", "en", {"h1": "Sign in to public services with one account",
                     "sign_in": "Sign in to your account", "register": "Register",
                     "help": "Help desk", "help_url": "Help desk website"}),
])
def test_start_page_signed_out_offers_sign_in_register_and_help_then_signed_in_is_the_account(
        server, browser, environ, output_dir, locale, lang, words):
    app = create_app({**environ, "IDP_ISSUER": server.url})
    make_citizen(app)
    with app.app_context():
        db.engine.dispose()

    page = browser.new_page(locale=locale)
    response = page.goto(f"{server.url}/")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").inner_text() == words["h1"]
    assert page.get_by_role("link", name=words["register"], exact=True).get_attribute("href") == "/register"
    assert page.get_by_role("heading", name=words["help"]).is_visible()
    assert page.get_by_role("link", name=HELP_PHONE).get_attribute("href") == "tel:19001234"
    assert page.get_by_role("link", name=words["help_url"]).get_attribute("href") == HELP_URL
    assert_wcag_21_aa(page)
    page.screenshot(path=f"{output_dir}-signed-out.png", full_page=True)

    page.get_by_role("link", name=words["sign_in"]).click()
    page.wait_for_url(f"{server.url}/login")
    page.locator('input[name="username"]').fill(AN["identifier"])
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main form button[type="submit"]').click()
    page.wait_for_url(f"{server.url}/account")

    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/account"
    assert page.locator("h1").inner_text() == AN["full_name"]
    assert page.locator("html").get_attribute("lang") == lang
