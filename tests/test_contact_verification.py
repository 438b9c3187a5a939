"""Verified contacts: an email address or phone number counts only once a code sent to it has
been entered (NIST SP 800-63B §5.1.3: 6 digits, 10 minutes, 5 tries), over a real SMTP server
and a real SMS gateway. Only verified contacts sign in; a contact cannot be squatted nor
claimed from another account; the form answers alike whatever other accounts hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp import create_app
from idp.audit.models import AuditEvent
from idp.citizens.models import Citizen, ContactClaim
from idp.db import db
from idp.db.types import utcnow
from tests.factories import AN, NGOC, PASSWORD, load_registry, make_citizen, page_csrf, sign_in
from tests.notify_support import deliver, email_text, last_code
from tests.schema import create_tables

EN = {"Accept-Language": "en"}


@pytest.fixture
def napp(notify_environ):
    application = create_app(notify_environ)
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    load_registry(application)
    application.config["CITIZEN_ID"] = make_citizen(application, AN, email="an@example.vn")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def browser(napp):
    client = napp.test_client()
    assert sign_in(client).status_code == 303
    return client


def _post(client, path, data=None):
    return client.post(path, data={"csrf_token": page_csrf(client, "/account"), **(data or {})},
                       headers=EN)


def _citizen(app) -> Citizen:
    with app.app_context():
        citizen = db.session.get(Citizen, app.config["CITIZEN_ID"])
        db.session.expunge(citizen)
        return citizen


def _claim_email(browser, napp, mailbox, address="an.new@example.vn") -> str:
    response = _post(browser, "/account/contacts", {"email": address, "phone": ""})
    assert response.status_code == 303
    deliver(napp)
    return last_code([email_text(m) for m in mailbox.emails_to(address)])


def test_a_new_email_is_used_only_after_the_code_sent_to_it_is_entered(browser, napp, mailbox):
    code = _claim_email(browser, napp, mailbox, "An.New@Example.vn".lower())
    page = browser.get("/account", headers=EN).get_data(as_text=True)
    assert "an.new@example.vn" in page and "not verified yet" in page
    assert _citizen(napp).email == "an@example.vn"  # the verified one stays until then
    other = napp.test_client()
    assert sign_in(other, "an.new@example.vn").status_code == 422  # not a sign-in name yet

    response = _post(browser, "/account/contacts/email/verify", {"email-code": code})
    assert response.status_code == 303
    citizen = _citizen(napp)
    assert (citizen.email, citizen.email_verified) == ("an.new@example.vn", True)
    assert sign_in(napp.test_client(), "an.new@example.vn").status_code == 303
    with napp.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("contact.%")).order_by(AuditEvent.id)).all()
        assert actions == ["contact.code_sent", "contact.verify"]
        details = db.session.scalars(select(AuditEvent.details).where(
            AuditEvent.action.like("contact.%"))).all()
        assert code not in str(details) and "an.new@example.vn" not in str(details)


def test_a_phone_number_is_verified_by_sms(browser, napp, mailbox):
    assert _post(browser, "/account/contacts",
                 {"email": "an@example.vn", "phone": "0912 345 678"}).status_code == 303
    deliver(napp)
    (text,) = mailbox.texts_to("+84912345678")
    assert _post(browser, "/account/contacts/phone/verify",
                 {"phone-code": last_code([text["text"]])}).status_code == 303
    citizen = _citizen(napp)
    assert (citizen.phone, citizen.phone_verified) == ("+84912345678", True)


def test_an_expired_code_is_refused(browser, napp, mailbox):
    code = _claim_email(browser, napp, mailbox)
    with napp.app_context():
        db.session.execute(update(ContactClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = _post(browser, "/account/contacts/email/verify", {"email-code": code})
    assert response.status_code == 422
    assert "This code has expired" in response.get_data(as_text=True)
    assert _citizen(napp).email == "an@example.vn"


def test_five_wrong_codes_exhaust_the_claim_even_for_the_right_one(browser, napp, mailbox):
    code = _claim_email(browser, napp, mailbox)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(4):
        answer = _post(browser, "/account/contacts/email/verify", {"email-code": wrong})
        assert "The code is wrong" in answer.get_data(as_text=True)
    assert "Too many wrong codes" in _post(browser, "/account/contacts/email/verify",
                                           {"email-code": wrong}).get_data(as_text=True)
    final = _post(browser, "/account/contacts/email/verify", {"email-code": code})
    assert final.status_code == 422 and "Too many wrong codes" in final.get_data(as_text=True)
    assert _citizen(napp).email == "an@example.vn"


def test_a_used_code_cannot_be_replayed_and_a_new_code_voids_the_old(browser, napp, mailbox):
    first = _claim_email(browser, napp, mailbox)
    assert _post(browser, "/account/contacts/resend").status_code == 404  # kind required
    assert _post(browser, "/account/contacts/email/resend").status_code == 303
    deliver(napp)
    second = last_code([email_text(m) for m in mailbox.emails_to("an.new@example.vn")])
    if first != second:
        stale = _post(browser, "/account/contacts/email/verify", {"email-code": first})
        assert stale.status_code == 422
    assert _post(browser, "/account/contacts/email/verify", {"email-code": second}).status_code == 303
    replay = _post(browser, "/account/contacts/email/verify", {"email-code": second})
    assert replay.status_code == 422
    assert "There is no code waiting" in replay.get_data(as_text=True)


def test_claiming_another_accounts_address_reveals_nothing_and_cannot_be_completed(browser, napp, mailbox):
    make_citizen(napp, NGOC, email="ngoc@example.vn")
    free = _post(browser, "/account/contacts", {"email": "nobody@example.vn"})
    taken = _post(browser, "/account/contacts", {"email": "ngoc@example.vn"})
    assert (free.status_code, taken.status_code) == (303, 303)
    assert (browser.get(free.headers["Location"], headers=EN).status_code == 200)
    deliver(napp)
    # The code went to the address's owner, not to the claimant; only they could enter it, and
    # even then the address stays with the account that proved it first.
    code = last_code([email_text(m) for m in mailbox.emails_to("ngoc@example.vn")])
    refused = _post(browser, "/account/contacts/email/verify", {"email-code": code})
    assert refused.status_code == 422
    assert "already verified on another account" in refused.get_data(as_text=True)
    assert _citizen(napp).email == "an@example.vn"
    assert sign_in(napp.test_client(), "ngoc@example.vn").status_code == 303  # still Ngọc's


def test_an_unverified_claim_blocks_nobody(napp, mailbox):
    """Squatting: a claim on an address does not stop its owner from proving it."""
    squatter = napp.test_client()
    assert sign_in(squatter).status_code == 303
    assert _post(squatter, "/account/contacts", {"email": "ngoc@example.vn"}).status_code == 303
    ngoc_id = make_citizen(napp, NGOC, email=None, phone="+84900000001")
    owner = napp.test_client()
    assert sign_in(owner, NGOC["identifier"]).status_code == 303
    assert _post(owner, "/account/contacts",
                 {"email": "ngoc@example.vn", "phone": "+84900000001"}).status_code == 303
    deliver(napp)
    code = last_code([email_text(m) for m in mailbox.emails_to("ngoc@example.vn")])
    assert _post(owner, "/account/contacts/email/verify", {"email-code": code}).status_code == 303
    with napp.app_context():
        assert db.session.get(Citizen, ngoc_id).email == "ngoc@example.vn"


def test_registration_contacts_are_claimed_and_sent_a_code(notify_environ, mailbox):
    application = create_app(notify_environ)
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    load_registry(application)
    client = application.test_client()
    form = client.get("/register").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    response = client.post("/register", headers=EN, data={
        "csrf_token": token, "identifier": PHUC_ID, "full_name": "Lê Hoàng Phúc",
        "birthdate": "2001-11-23", "email": "phuc@example.vn", "phone": "",
        "password": PASSWORD, "password_confirm": PASSWORD})
    assert response.status_code == 303
    deliver(application)
    assert len(mailbox.emails_to("phuc@example.vn")) == 1
    with application.app_context():
        citizen = db.session.scalars(select(Citizen).where(Citizen.full_name == "Lê Hoàng Phúc")).one()
        assert citizen.email is None
        assert db.session.scalars(select(ContactClaim.value)).all() == ["phuc@example.vn"]


PHUC_ID = "048201261421"


def test_without_a_channel_a_contact_change_says_so_and_changes_nothing(app):
    load_registry(app)
    citizen_id = make_citizen(app, AN, email="an@example.vn")
    client = app.test_client()
    sign_in(client)
    response = _post(client, "/account/contacts", {"email": "an.new@example.vn"})
    assert response.status_code == 422
    assert "cannot send email at the moment" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Citizen, citizen_id).email == "an@example.vn"
        assert db.session.scalars(select(ContactClaim)).all() == []
