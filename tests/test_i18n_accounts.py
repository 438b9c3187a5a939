"""Every page in Vietnamese (default) and English; the Vietnamese catalogue is complete and
its compiled form is up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.factories import load_registry, make_citizen, sign_in

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "idp" / "translations" / "vi" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("idp/**.py", "python"), ("idp/**/templates/**.html", "jinja2")]


def _extracted() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_in_the_code_has_a_vietnamese_translation():
    with open(CATALOGUE / "messages.po", "rb") as handle:
        catalogue = read_po(handle)
    translated = {(m.id[0] if isinstance(m.id, tuple) else m.id): m.string for m in catalogue if m.id}
    missing = sorted(m for m in _extracted() if not translated.get(m) or translated[m] in ("", ("",)))
    assert missing == [], "untranslated (run pybabel extract/update, translate, compile): " + repr(missing)
    assert not catalogue.fuzzy and not [m.id for m in catalogue if m.id and m.fuzzy]


def _pairs(catalogue) -> dict:
    return {tuple(m.id) if isinstance(m.id, list | tuple) else m.id:
            tuple(m.string) if isinstance(m.string, list | tuple) else m.string
            for m in catalogue if m.id}


def test_the_compiled_catalogue_matches_the_po_file():
    with open(CATALOGUE / "messages.po", "rb") as handle:
        po = _pairs(read_po(handle))
    with open(CATALOGUE / "messages.mo", "rb") as handle:
        mo = _pairs(read_mo(handle))
    assert po == mo, "messages.mo is stale: pybabel compile -d idp/translations"


@pytest.fixture
def signed_in(app):
    load_registry(app)
    make_citizen(app)
    client = app.test_client()
    sign_in(client)
    return client


@pytest.mark.parametrize(("headers", "query", "expected", "lang"), [
    ({}, "", "Đăng nhập", "vi"),
    ({"Accept-Language": "en-US,en;q=0.8"}, "", "Sign in", "en"),
    ({"Accept-Language": "en"}, "?ui_locales=vi", "Đăng nhập", "vi"),
])
def test_sign_in_page_language(client, headers, query, expected, lang):
    html = client.get("/login" + query, headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{expected}</h1>" in html


@pytest.mark.parametrize(("path", "vietnamese"), [
    ("/register", "Tạo tài khoản"),
    ("/account", "Thông tin liên hệ"),
    ("/account/sessions", "Nơi bạn đang đăng nhập"),
    ("/account/consents", "Các dịch vụ bạn đã cấp quyền"),
    ("/account/history", "Lịch sử đăng nhập"),
    ("/account/password", "Đổi mật khẩu của bạn"),
])
def test_every_page_is_vietnamese_by_default_and_has_a_language_switcher(signed_in, path, vietnamese):
    html = signed_in.get(path).get_data(as_text=True)
    assert vietnamese in html
    assert 'hreflang="en"' in html  # the switcher offers English
    english = signed_in.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert vietnamese not in english and 'hreflang="vi"' in english


def test_the_switcher_choice_sticks_across_pages(signed_in):
    signed_in.get("/lang/en?next=/account")
    assert "Contact details" in signed_in.get("/account").get_data(as_text=True)
    assert "<h1>Sign-in history</h1>" in signed_in.get("/account/history").get_data(as_text=True)


def test_errors_are_translated_too(app):
    load_registry(app)
    client = app.test_client()
    from tests.factories import csrf_token

    response = client.post("/login", data={"csrf_token": csrf_token(client), "username": "001085888274",
                                            "password": "wrong password"})
    assert "Số định danh, email, số điện thoại hoặc mật khẩu không đúng." in response.get_data(as_text=True)
