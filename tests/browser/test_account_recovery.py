"""A citizen who forgot their password, in a real browser, with real mail: "forgot password"
from the sign-in page, the code read from the SMTP server's mailbox (the local mailbox
``./scripts/run`` starts), a new password set, the session left open on another computer gone,
and the "password changed" notice delivered."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.accessibility import assert_wcag_21_aa
from tests.factories import AN, PASSWORD
from tests.helpers import run_idp
from tests.notify_support import email_text

pytestmark = pytest.mark.browser

NEW_PASSWORD = "hoa sen nở sớm mai 2026"


@pytest.fixture
def environ(environ, mailbox):
    # The server process runs its outbox worker, as in production, polling every second.
    return {**environ, **mailbox.environ(), "IDP_OUTBOX_POLL_INTERVAL": "1"}


def _wait_for_mail(mailbox, address: str, count: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = mailbox.emails_to(address)
        if len(messages) >= count:
            return messages
        time.sleep(0.2)
    raise AssertionError(f"{count} message(s) to {address} not delivered in {timeout} s")


def test_forgot_password_with_the_code_from_the_mailbox(server, browser, environ, mailbox, output_dir):
    created = run_idp(["citizens", "create", "--national-id", AN["identifier"],
                       "--full-name", AN["full_name"], "--birthdate", AN["birthdate"].isoformat(),
                       "--gender", "male", "--email", "an@example.vn", "--password-stdin"],
                      {**environ, "IDP_ISSUER": server.url}, input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr

    # A session left open on another computer.
    other_computer = browser.new_context(locale="vi-VN").new_page()
    other_computer.goto(f"{server.url}/login")
    other_computer.locator('input[name="username"]').fill(AN["identifier"])
    other_computer.locator('input[name="password"]').fill(PASSWORD)
    other_computer.get_by_role("button", name="Đăng nhập").click()
    other_computer.wait_for_url(f"{server.url}/account")

    page = browser.new_context(locale="vi-VN").new_page()
    page.goto(f"{server.url}/login")
    page.get_by_role("link", name="Quên mật khẩu?").click()
    page.wait_for_url(f"{server.url}/recover")
    assert page.locator("h1").inner_text() == "Quên mật khẩu?"
    assert_wcag_21_aa(page)
    page.get_by_label("Số định danh cá nhân").fill(AN["identifier"])
    page.get_by_label("Email hoặc số điện thoại di động đã xác minh").fill("an@example.vn")
    page.get_by_role("button", name="Gửi mã cho tôi").click()
    page.wait_for_url(f"{server.url}/recover/code")
    assert "an@example.vn" in page.get_by_role("status").inner_text()
    assert_wcag_21_aa(page)
    page.screenshot(path=str(output_dir) + "-code.png", full_page=True)

    (message,) = _wait_for_mail(mailbox, "an@example.vn", 1)
    assert message["Subject"].startswith("Mã khôi phục tài khoản của bạn")
    code = re.findall(r"\b(\d{6})\b", email_text(message))[-1]

    page.get_by_label("Mã").fill(code)
    page.get_by_label("Mật khẩu mới", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Nhập lại mật khẩu mới").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Đặt mật khẩu mới").click()
    page.wait_for_url(f"{server.url}/login")
    assert "Mật khẩu đã được thay đổi" in page.get_by_role("status").inner_text()

    page.locator('input[name="username"]').fill(AN["identifier"])
    page.locator('input[name="password"]').fill(NEW_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{server.url}/account")
    page.screenshot(path=str(output_dir) + "-signed-in.png", full_page=True)

    # The account page's contacts: a new address waits for its code, WCAG 2.1 AA clean.
    page.locator('input[name="email"]').fill("an.moi@example.vn")
    page.get_by_role("button", name="Lưu thông tin liên hệ").click()
    page.wait_for_url(f"{server.url}/account")
    assert page.get_by_role("heading", name="Xác minh địa chỉ email").is_visible()
    assert_wcag_21_aa(page)

    other_computer.goto(f"{server.url}/account")  # the old session is gone
    assert other_computer.url.startswith(f"{server.url}/login")

    messages = _wait_for_mail(mailbox, "an@example.vn", 2)
    assert messages[1]["Subject"] == "Mật khẩu của bạn đã được thay đổi"
    (code_message,) = _wait_for_mail(mailbox, "an.moi@example.vn", 1)
    assert code_message["Subject"].startswith("Mã xác minh của bạn")

    logs = server.log.read_text(encoding="utf-8", errors="replace")
    for secret in (code, NEW_PASSWORD, PASSWORD, "an@example.vn"):
        assert secret not in logs
