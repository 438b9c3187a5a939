"""The sign-in page the authorization endpoint answers with is filled in from a copy rendered
once per language (idp.auth.sign_in_pages): it must be the page the templates render, character
for character, carrying this request's stored id and this browser's own CSRF token, and a
citizen must sign in with it."""

from __future__ import annotations

import secrets

import pytest
from flask_wtf.csrf import generate_csrf

from idp.auth import sign_in_pages, views
from idp.auth.sign_in_pages import login_address
from tests.factories import AN, PASSWORD, load_registry, make_citizen
from tests.oidc_support import authorize, form_action, redirect_params, register, sign_in_page_resume

CSRF = 'name="csrf_token" type="hidden" value="'


def _csrf(html: str) -> str:
    return html.split(CSRF)[1].split('"')[0]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_the_page_filled_from_the_copy_is_the_page_the_templates_render(app, language):
    with app.test_request_context("/authorize", headers={"Accept-Language": language}):
        # The first builds the copy, the second is filled from it; both as the templates say.
        for request_id in (secrets.token_urlsafe(24), secrets.token_urlsafe(24)):
            next_url = f"/authorize/continue/{request_id}"
            here = login_address(next_url)
            page = views.sign_in_page(next_url, here=here)
            assert page == sign_in_pages.rendered(next_url, here)
            assert f'lang="{language}"' in page
            assert _csrf(page) == generate_csrf() and request_id in form_action(page)
    assert (language, "/authorize/continue") in app.extensions["idp.sign_in_pages"]


def test_each_browser_signs_in_with_its_own_page_filled_from_the_copy(app):
    """OIDC Core §3.1.2.3 over HTTP: two browsers get the page from one copy, each with its own
    stored request and CSRF token (bound to its own session: the other's is refused)."""
    load_registry(app)
    make_citizen(app, AN)
    register(app, client_id="portal")
    first, second = app.test_client(), app.test_client()
    pages = [authorize(browser, "portal").get_data(as_text=True) for browser in (first, second)]
    assert ("vi", "/authorize/continue") in app.extensions["idp.sign_in_pages"]
    assert _csrf(pages[0]) != _csrf(pages[1])
    assert form_action(pages[0]) != form_action(pages[1])

    crossed = second.post(form_action(pages[1]), data={
        "csrf_token": _csrf(pages[0]), "username": AN["identifier"], "password": PASSWORD})
    assert crossed.status_code == 400  # Flask-WTF: the CSRF token does not match the session
    for browser, page in ((first, pages[0]), (second, pages[1])):
        response = browser.post(form_action(page), data={
            "csrf_token": _csrf(page), "username": AN["identifier"], "password": PASSWORD})
        if response.status_code == 303 and "/authorize/continue/" in response.headers["Location"]:
            consent = browser.get(response.headers["Location"])  # first time: consent
            html = consent.get_data(as_text=True)
            response = browser.post(form_action(html), data={"csrf_token": _csrf(html),
                                                              "decision": "allow"})
        assert "code" in redirect_params(response)


def test_a_prefilled_or_localised_request_is_rendered_from_the_templates(app):
    load_registry(app)
    register(app, client_id="portal")
    hinted = authorize(app.test_client(), "portal", login_hint=AN["identifier"])
    assert f'value="{AN["identifier"]}"' in hinted.get_data(as_text=True)
    english = authorize(app.test_client(), "portal", ui_locales="en")
    assert 'lang="en"' in english.get_data(as_text=True)
    sign_in_page_resume(english)
    assert not app.extensions.get("idp.sign_in_pages")


def test_a_page_that_cannot_be_copied_is_rendered_once_per_request_not_tried_again(app, monkeypatch):
    """A template that did not show the CSRF placeholder whole (here: dropped) makes no copy;
    that is remembered, so each request renders the page once, not twice."""
    renders = []
    real = sign_in_pages.rendered

    def counted(next_url, here, csrf_token=None, **kwargs):
        renders.append(csrf_token)
        page = real(next_url, here, csrf_token, **kwargs)
        return page.replace(csrf_token, "") if csrf_token else page

    monkeypatch.setattr(sign_in_pages, "rendered", counted)
    with app.test_request_context("/authorize", headers={"Accept-Language": "en"}):
        for _ in range(3):
            next_url = f"/authorize/continue/{secrets.token_urlsafe(24)}"
            page = views.sign_in_page(next_url, here=login_address(next_url))
            assert _csrf(page) == generate_csrf() and next_url in page
    assert len(renders) == 4  # one attempt at a copy, then one render per request
    assert app.extensions["idp.sign_in_pages"] == {("en", "/authorize/continue"): None}
