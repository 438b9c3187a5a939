"""Certificate sign-in attempts count against the per-IP limit of the password form
(``IDP_LOGIN_RATE_LIMIT``, Flask-Limiter): beyond it, a readable 429 with ``Retry-After``."""

from __future__ import annotations

import re

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


def test_the_signers_direct_posts_and_the_continue_posts_are_limited_per_ip_too(app):
    """idp.auth.certificate_views: POST /login/certificate/direct (the signer) and
    /login/certificate/continue (the browser) have the paste form's per-IP limit."""
    signer = app.test_client()
    statuses = [signer.post("/login/certificate/direct", data={"challenge": "idp-signin x y",
                                                                "signature": "abc"}).status_code
                for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    browser = app.test_client()
    page = browser.get("/login/certificate/continue", query_string={"challenge": "x"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    statuses = [browser.post("/login/certificate/continue",
                             data={"challenge": "x", "csrf_token": csrf}).status_code for _ in range(4)]
    assert statuses == [409, 409, 409, 429]
