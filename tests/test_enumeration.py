"""Nothing a stranger can type tells which national numbers, emails or phones have accounts.

- Sign-in lockout (idp.auth.lockout.account_key): the counter of an unknown name is keyed on its
  canonical form, as a known account's is the same under every spelling. Before, it was keyed
  on the raw text, so the third failure under another spelling answered "wait" (then 429) for a
  known number and a fresh 422 for an unknown one.
- The contacts form (idp.accounts.contact_verification): an address already used by another
  account gets the same answer as a free one; it is only claimed, and its code goes to its owner.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp import create_app
from idp.audit.models import AuditEvent
from idp.auth import lockout
from idp.citizens.models import Citizen
from idp.db import db
from tests.factories import AN, NGOC, load_registry, make_citizen, page_csrf, sign_in
from tests.schema import create_tables

EN = {"Accept-Language": "en"}


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(lockout, "_now", lambda: 1_900_000_000.0)


@pytest.fixture
def login_app(environ):
    app = create_app({**environ, "IDP_LOGIN_RATE_LIMIT": "1000/minute", "IDP_LOGIN_MAX_FAILURES": "5"})
    app.config["TESTING"] = True
    with app.app_context():
        create_tables()
    load_registry(app)
    app.config["CITIZEN_ID"] = make_citizen(app, AN, email="an@example.vn", phone="0912345678")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _answers(app, spellings: list[str]) -> list[tuple[int, str | None, bool]]:
    """Status, Retry-After and whether a wait is announced, for a wrong password under each spelling."""
    client = app.test_client()
    answers = []
    for username in spellings:
        response = sign_in(client, username=username, password="wrong password")
        answers.append((response.status_code, response.headers.get("Retry-After"),
                        "Wait" in response.get_data(as_text=True)))
    return answers


@pytest.mark.parametrize(("known", "unknown"), [
    (["001085888274", "001085888274", "001 085 888 274", " 001 085 888 274"],
     ["079190320381", "079190320381", "079 190 320 381", " 079 190 320 381"]),
    (["an@example.vn", "AN@example.vn", " An@Example.VN ", "an@EXAMPLE.vn"],
     ["binh@example.vn", "BINH@example.vn", " Binh@Example.VN ", "binh@EXAMPLE.vn"]),
    (["0912345678", "+84 912 345 678", "0912-345-678", "0084912345678"],
     ["0987654321", "+84 987 654 321", "0987-654-321", "0084987654321"]),
])
def test_failures_under_other_spellings_answer_alike_for_known_and_unknown_accounts(
        login_app, frozen, known, unknown):
    known_answers = _answers(login_app, known)
    unknown_answers = _answers(login_app, unknown)
    assert known_answers == unknown_answers
    assert [status for status, _, _ in known_answers] == [422, 422, 422, 429]


def test_an_unknown_name_has_one_counter_under_every_spelling(login_app):
    with login_app.test_request_context():
        assert lockout.account_key(None, " 079 190 320 381") == lockout.account_key(None, "079190320381")
        assert lockout.account_key(None, "Binh@Example.vn") == lockout.account_key(None, "binh@example.vn")
        assert lockout.account_key(None, "+84 987 654 321") == lockout.account_key(None, "0987654321")


# -- the contacts form --------------------------------------------------------------------------

@pytest.fixture
def signed_in(login_app):
    make_citizen(login_app, NGOC, email="ngoc@example.vn", phone="0987654321")
    client = login_app.test_client()
    assert sign_in(client).status_code == 303
    return client


def _save(client, **data):
    body = {"csrf_token": page_csrf(client, "/account"), "email": "an@example.vn", "phone": "0912345678",
            **data}
    response = client.post("/account/contacts", data=body, headers=EN)
    page = client.get("/account", headers=EN).get_data(as_text=True)
    return response.status_code, response.headers.get("Location"), re.findall(r'role="status">([^<]*)<', page)


def _an(app) -> Citizen:
    with app.app_context():
        return db.session.get(Citizen, app.config["CITIZEN_ID"])


def test_an_address_of_another_account_gets_the_answer_of_a_free_one_and_is_not_attached(
        environ, mailbox):
    """With verified contacts, a typed address is only claimed and sent a code: the answer is the
    same for a free and a taken address, and only the address's owner receives the code."""
    app = create_app({**environ, **mailbox.environ(), "IDP_LOGIN_RATE_LIMIT": "1000/minute"})
    app.config["TESTING"] = True
    with app.app_context():
        create_tables()
    load_registry(app)
    app.config["CITIZEN_ID"] = make_citizen(app, AN, email="an@example.vn", phone="0912345678")
    make_citizen(app, NGOC, email="ngoc@example.vn", phone="0987654321")
    client = app.test_client()
    assert sign_in(client).status_code == 303

    taken_email = _save(client, email="Ngoc@Example.vn")
    free_email = _save(client, email="an.new@example.vn")
    taken_phone = _save(client, phone="+84 987 654 321")
    free_phone = _save(client, phone="0911111111")
    assert taken_email == free_email == taken_phone == free_phone
    assert taken_email[0] == 303 and taken_email[1] == "/account"
    assert "already used" not in str(taken_email)
    an = _an(app)
    assert (an.email, an.phone) == ("an@example.vn", "+84912345678")  # nothing attached unproven
    with app.app_context():
        ngoc = db.session.scalar(select(Citizen).where(Citizen.email == "ngoc@example.vn"))
        assert ngoc is not None and ngoc.phone == "+84987654321"
        details = [e.details for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "contact.code_sent").order_by(AuditEvent.id))]
    assert details == [{"kind": "email"}, {"kind": "email"}, {"kind": "phone"}, {"kind": "phone"}]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
