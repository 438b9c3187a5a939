"""A citizen in a real browser: registers, signs in, switches language, signs out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import NGOC, PASSWORD

pytestmark = pytest.mark.browser


def test_register_sign_in_switch_language_and_sign_out(server, browser, output_dir):
    page = browser.new_page(locale="vi-VN")
    page.goto(f"{server.url}/register")
    assert page.locator("h1").inner_text() == "Tạo tài khoản"

    page.get_by_label("Số định danh cá nhân").fill("079 190 320 381")
    page.get_by_label("Họ và tên").fill("Trần Thị Bích Ngọc")
    page.get_by_label("Ngày sinh").fill(NGOC["birthdate"].isoformat())
    page.get_by_label("Email").fill("ngoc@example.vn")
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_label("Nhập lại mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng ký").click()

    # The sign-in form, prefilled with the new account's number.
    page.wait_for_url(f"{server.url}/login")
    assert "Tài khoản của bạn đã sẵn sàng" in page.get_by_role("status").inner_text()
    username = page.locator('input[name="username"]')
    assert username.get_attribute("autocomplete") == "username"
    assert username.input_value() == "079 190 320 381"
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()

    page.wait_for_url(f"{server.url}/account")
    assert page.locator("h1").inner_text() == NGOC["full_name"]
    assert "Thông tin liên hệ" in page.content()

    page.get_by_role("link", name="English").click()
    page.wait_for_url(f"{server.url}/account")
    # The URL was /account before the switch too: expect() waits for the English page itself.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Contact details", exact=True)).to_be_visible()
    page.get_by_role("link", name="Sign-in history").click()
    page.wait_for_url(f"{server.url}/account/history")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert "Success" in page.locator("tbody tr").first.inner_text()
    page.screenshot(path=str(output_dir) + "-history.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/signout")
    assert page.locator("h1").inner_text() == "You are signed out"
    page.screenshot(path=str(output_dir) + "-signed-out.png", full_page=True)
    page.goto(f"{server.url}/account")
    assert page.url.startswith(f"{server.url}/login?next=/account")

    logs = server.log.read_text(encoding="utf-8", errors="replace")
    for value in (NGOC["identifier"], "079 190 320 381", NGOC["full_name"], PASSWORD, "ngoc@example.vn"):
        assert value not in logs
