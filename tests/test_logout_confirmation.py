"""Logout CSRF (RP-Initiated Logout 1.0 §2, §6): an ID token hint ends this browser's session
without asking only when it is about this session.

Any citizen holds ID tokens of their own, and any page can make a browser GET (or POST to)
/logout with one: before, that signed the victim out. Now the hint's ``sid`` (or, without one,
its ``sub`` for its client) must be the browser's session's; otherwise the citizen confirms on a
CSRF-protected page, and the relying party named by the hint still gets its registered
post_logout_redirect_uri after confirmation. A matching hint proceeds at once, as the
certification plan expects (tests/test_oidc_logout.py)."""

from __future__ import annotations

import re

import pytest

from idp.oidc.views.logout import _hint_is_about
from tests.factories import NGOC, load_registry
from tests.factories import make_citizen as make_registered_citizen
from tests.oidc_support import POST_LOGOUT, authorize, redirect_params, sign_in, tokens_for


def _another_citizen(app) -> int:
    load_registry(app)
    return make_registered_citizen(app, NGOC, email="mallory@example.vn")


def _signed_in(browser, client_id: str) -> bool:
    params = redirect_params(authorize(browser, client_id, prompt="none"))
    return "code" in params


@pytest.fixture
def victim(app, rp, citizen_id):
    browser = app.test_client()
    sign_in(app, browser, citizen_id)
    tokens_for(browser, *rp)  # the victim uses the service too
    return browser


@pytest.fixture
def attackers_id_token(app, rp):
    attacker = _another_citizen(app)
    browser = app.test_client()
    sign_in(app, browser, attacker)
    return tokens_for(browser, *rp)["id_token"]


def _is_confirmation(response) -> bool:
    html = response.get_data(as_text=True)
    return response.status_code == 200 and 'action="/logout/confirm"' in html and 'value="logout"' in html


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_another_citizens_id_token_hint_does_not_end_the_victims_session(victim, rp, attackers_id_token,
                                                                          method):
    params = {"id_token_hint": attackers_id_token, "post_logout_redirect_uri": POST_LOGOUT, "state": "x"}
    if method == "GET":
        response = victim.get("/logout", query_string=params)
    else:  # a cross-site form post: /logout is CSRF-exempt for relying parties
        response = victim.post("/logout", data=params)
    assert _is_confirmation(response) and "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert _signed_in(victim, rp[0])


def test_an_id_token_of_an_earlier_session_of_the_same_citizen_asks_first(app, rp, citizen_id):
    browser = app.test_client()
    sign_in(app, browser, citizen_id)
    old = tokens_for(browser, *rp)["id_token"]
    sign_in(app, browser, citizen_id)  # a new session in this browser: another sid
    response = browser.get("/logout", query_string={"id_token_hint": old})
    assert _is_confirmation(response) and _signed_in(browser, rp[0])


def test_after_confirmation_the_hints_client_gets_its_redirect(victim, rp, attackers_id_token):
    page = victim.get("/logout", query_string={"id_token_hint": attackers_id_token,
                                               "post_logout_redirect_uri": POST_LOGOUT, "state": "s3"})
    html = page.get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert "id_token_hint" not in fields and fields["client_id"] == rp[0]
    assert victim.post("/logout/confirm", data={**fields, "decision": "logout", "csrf_token": ""}
                       ).status_code == 400  # the confirmation itself is CSRF-protected
    assert _signed_in(victim, rp[0])
    response = victim.post("/logout/confirm", data={**fields, "decision": "logout"})
    assert response.headers["Location"] == POST_LOGOUT + "?state=s3"
    assert not _signed_in(victim, rp[0])


def test_staying_signed_in_keeps_the_session(victim, rp, attackers_id_token):
    page = victim.get("/logout", query_string={"id_token_hint": attackers_id_token})
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                             page.get_data(as_text=True)))
    response = victim.post("/logout/confirm", data={**fields, "decision": "stay"})
    assert response.status_code == 200 and _signed_in(victim, rp[0])


def test_the_confirmation_page_is_in_vietnamese_and_english(victim, attackers_id_token):
    vi = victim.get("/logout", query_string={"id_token_hint": attackers_id_token},
                    headers={"Accept-Language": "vi"}).get_data(as_text=True)
    en = victim.get("/logout", query_string={"id_token_hint": attackers_id_token},
                    headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="vi">' in vi and "Đăng xuất?" in vi
    assert '<html lang="en">' in en and "Sign out?" in en
    for html in (vi, en):  # WCAG 2.1: one h1, every button named by its text
        assert html.count("<h1") == 1
        assert all(label.strip() for label in re.findall(r"<button[^>]*>([^<]*)</button>", html))


def test_a_hint_without_sid_is_matched_by_its_subject_for_its_client(app, rp, citizen_id):
    """ID tokens without ``sid`` (none are issued today, other issuers' habits differ): the
    ``sub`` the hint's client knows the signed-in citizen by decides."""
    from types import SimpleNamespace

    from idp.db import db
    from idp.oidc.models import Client
    from idp.oidc.subject import subject_for

    with app.test_request_context():
        client = db.session.query(Client).filter_by(client_id=rp[0]).one()
        from idp.citizens.models import Citizen

        citizen = db.session.get(Citizen, citizen_id)
        other = db.session.get(Citizen, _another_citizen(app))
        sso = SimpleNamespace(sid="s-1", citizen_id=citizen_id)
        hint = SimpleNamespace(client=client, id_token_claims={"sub": subject_for(citizen, client)})
        assert _hint_is_about(hint, sso)
        hint.id_token_claims = {"sub": subject_for(other, client)}
        assert not _hint_is_about(hint, sso)
        hint.id_token_claims = {"sub": subject_for(citizen, client), "sid": "s-2"}
        assert not _hint_is_about(hint, sso)
