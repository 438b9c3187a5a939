"""Certificate sign-in attempts count against the per-IP limit of the password form
(``IDP_LOGIN_RATE_LIMIT``, Flask-Limiter): beyond it, a readable 429 with ``Retry-After``."""

from __future__ import annotations

import pytest

from tests.signatures.test_certificate_signin import open_page, submit, text_of


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_LOGIN_RATE_LIMIT": "3/minute"}


def test_posts_beyond_the_per_ip_limit_get_a_readable_429(app):
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    statuses = [submit(browser, open_page(browser), "not a signature").status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    response = submit(browser, open_page(browser), "not a signature")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts from your network" in text_of(response)
    assert browser.get("/login/certificate").status_code == 200  # reading the page costs nothing
