"""The issuer's root ``/``: a start page for citizens in their language, not a 404; signed in,
the account."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_settings
from tests.oidc_support import make_citizen, sign_in


def test_root_is_a_start_page_with_sign_in_register_and_help_in_vietnamese_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="vi">' in html
    assert "Đăng nhập dịch vụ công bằng một tài khoản" in html
    assert 'href="/login"' in html and 'href="/register"' in html
    assert "Hỗ trợ" in html


def test_root_follows_accept_language_english(client):
    html = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Sign in to public services with one account" in html
    assert "Help desk" in html
    # No help desk configured: the page still says where help is.
    assert "the police office that issued your identity card" in html


def test_root_shows_the_configured_help_desk(environ):
    from idp import create_app

    app = create_app({**environ, "IDP_HELP_DESK_PHONE": "1900 1234",
                      "IDP_HELP_DESK_URL": "https://help.example.gov.vn/"})
    html = app.test_client().get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<a href="tel:19001234">1900 1234</a>' in html
    assert '<a href="https://help.example.gov.vn/">Help desk website</a>' in html


def test_help_desk_url_must_be_a_web_address(environ):
    with pytest.raises(ConfigError, match="IDP_HELP_DESK_URL"):
        load_settings({**environ, "IDP_HELP_DESK_URL": "javascript:alert(1)"})


def test_root_signed_in_goes_to_the_account(app, client):
    sign_in(app, client, make_citizen(app))
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
