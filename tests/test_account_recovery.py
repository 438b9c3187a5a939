"""Account recovery ("forgot password") by a code sent to a verified contact, over a real SMTP
server and SMS gateway: the same answer and the same work whether or not the number and the
contact match an account; limits per address and per number; the code sets a new password,
ends every session and every refresh token, and each verified contact is told; the second
factor stays required."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp import create_app
from idp.audit.models import AuditEvent
from idp.citizens.models import PasswordReset
from idp.db import db
from idp.db.types import utcnow
from tests.factories import AN, NGOC, csrf_token, load_registry, make_citizen, sign_in
from tests.mfa_support import code_at, enrol_totp, submit_otp
from tests.notify_support import deliver, email_text, last_code
from tests.schema import create_tables

EN = {"Accept-Language": "en"}
NEW_PASSWORD = "a brand new passphrase 42"


def _app(environ, **extra):
    application = create_app({**environ, "IDP_RECOVERY_RATE_LIMIT": "1000/minute", **extra})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    load_registry(application)
    application.config["CITIZEN_ID"] = make_citizen(application, AN, email="an@example.vn",
                                                    phone="0912345678")
    make_citizen(application, NGOC, email="ngoc@example.vn")
    return application


@pytest.fixture
def rapp(notify_environ):
    application = _app(notify_environ)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _ask(client, identifier=AN["identifier"], contact="an@example.vn"):
    token = csrf_token(client, "/recover")
    return client.post("/recover", data={"csrf_token": token, "identifier": identifier, "contact": contact},
                       headers=EN)


def _finish(client, code, password=NEW_PASSWORD, confirm=None):
    token = csrf_token(client, "/recover/code")
    return client.post("/recover/code", headers=EN, data={
        "csrf_token": token, "code": code, "password": password, "password_confirm": confirm or password})


def _code_for(app, mailbox, address="an@example.vn") -> str:
    deliver(app)
    return last_code([email_text(m) for m in mailbox.emails_to(address)])


def test_the_sign_in_page_links_to_recovery(rapp):
    html = rapp.test_client().get("/login", headers=EN).get_data(as_text=True)
    assert 'href="/recover"' in html and "Forgot your password?" in html


def test_forgot_password_sets_a_new_one_ends_every_session_and_tells_the_citizen(rapp, mailbox):
    laptop = rapp.test_client()
    assert sign_in(laptop).status_code == 303
    assert laptop.get("/account").status_code == 200

    phone = rapp.test_client()
    asked = _ask(phone)
    assert (asked.status_code, asked.headers["Location"]) == (303, "/recover/code")
    code = _code_for(rapp, mailbox)
    done = _finish(phone, code)
    assert (done.status_code, done.headers["Location"]) == (303, "/login")

    assert laptop.get("/account").status_code == 303  # the old session is gone
    assert sign_in(rapp.test_client()).status_code == 422  # the old password no longer works
    assert sign_in(rapp.test_client(), password=NEW_PASSWORD).status_code == 303
    deliver(rapp)
    subjects = [m["Subject"] for m in mailbox.emails_to("an@example.vn")]
    assert subjects == ["Your account recovery code: " + code, "Your password was changed",
                        "New sign-in to your account"]  # the last sign-in came from a new browser
    texts = [t["text"] for t in mailbox.texts_to("+84912345678")]  # every verified contact is told
    assert len(texts) == 2 and "your password was changed" in texts[0] and "new sign-in" in texts[1]
    with rapp.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("password.%")).order_by(AuditEvent.id)).all()
        assert actions == ["password.recovery_requested", "password.recovered"]
    token = csrf_token(phone, "/login")
    replay = phone.post("/recover/code", data={"csrf_token": token, "code": code, "password": NEW_PASSWORD,
                                               "password_confirm": NEW_PASSWORD})
    assert (replay.status_code, replay.headers["Location"]) == (303, "/recover")  # the request is spent


def test_recovery_keeps_the_second_factor_required(rapp, mailbox):
    browser = rapp.test_client()
    assert sign_in(browser).status_code == 303
    secret, _ = enrol_totp(browser)
    other = rapp.test_client()
    _ask(other)
    assert _finish(other, _code_for(rapp, mailbox)).status_code == 303
    again = rapp.test_client()
    response = sign_in(again, password=NEW_PASSWORD)
    assert response.headers["Location"] == "/login/second-factor"
    assert again.get("/account").status_code == 303  # not signed in without the code
    # the same app completes it (the next step: its current code was spent on enrolment)
    assert submit_otp(again, code_at(secret, offset_steps=1)).status_code == 303
    assert again.get("/account").status_code == 200


@pytest.mark.parametrize(("identifier", "contact"), [
    ("001085888274", "someone@example.vn"),   # the number's account, not its contact
    ("079190320381", "an@example.vn"),        # another account's contact
    ("031178290189", "an@example.vn"),        # a registry person without an account
])
def test_a_mismatch_gets_the_answer_of_a_match_and_nothing_is_sent(rapp, mailbox, identifier, contact):
    matched, other = rapp.test_client(), rapp.test_client()
    good = _ask(matched)  # An's number and An's verified email
    bad = _ask(other, identifier=identifier, contact=contact)
    assert (good.status_code, good.headers["Location"]) == (bad.status_code, bad.headers["Location"])
    strip = lambda html: re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)  # noqa: E731
    good_page = strip(matched.get("/recover/code", headers=EN).get_data(as_text=True))
    bad_page = strip(other.get("/recover/code", headers=EN).get_data(as_text=True))
    assert good_page.replace("an@example.vn", contact) == bad_page  # only the typed contact differs
    deliver(rapp)
    (message,) = mailbox.mail.messages()  # the match's code, and nothing for the mismatch
    assert message["To"] == "an@example.vn" and mailbox.sms.messages() == []
    # Not even the code that was sent works for the mismatched request.
    assert _finish(other, last_code([email_text(message)])).status_code == 422
    assert sign_in(rapp.test_client()).status_code == 303  # the password did not change


def test_a_match_and_a_mismatch_take_the_same_time(rapp, mailbox):
    """Interleaved requests, compared by the CPU time of the request's own thread (the test
    client runs it in this thread), so other processes on the machine do not decide."""
    client = rapp.test_client()
    token = csrf_token(client, "/recover")
    cases = {"match": (AN["identifier"], "an@example.vn"), "unknown": ("031178290189", "an@example.vn")}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with rapp.app_context():
        db.session.execute(update(PasswordReset).values(created_at=utcnow() - timedelta(hours=2)))
    for round_ in range(12):
        for name, (identifier, contact) in cases.items():
            with rapp.app_context():  # keep under the per-number limit
                db.session.execute(update(PasswordReset).values(created_at=utcnow() - timedelta(hours=2)))
                db.session.commit()
            started = time.thread_time()
            response = client.post("/recover", headers=EN, data={
                "csrf_token": token, "identifier": identifier, "contact": contact})
            if round_ > 1:  # the first rounds warm caches
                times[name].append(time.thread_time() - started)
            assert response.status_code == 303
    match, unknown = statistics.median(times["match"]), statistics.median(times["unknown"])
    assert 0.6 < match / unknown < 1.67, (match, unknown)


def test_a_wrong_code_five_times_spends_the_request(rapp, mailbox):
    browser = rapp.test_client()
    _ask(browser)
    code = _code_for(rapp, mailbox)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for _ in range(5):
        answer = _finish(browser, wrong)
        assert answer.status_code == 422
        assert "The code is wrong or has expired" in answer.get_data(as_text=True)
    assert _finish(browser, code).status_code == 422
    assert sign_in(rapp.test_client()).status_code == 303  # the password did not change


def test_an_expired_code_is_refused(rapp, mailbox):
    browser = rapp.test_client()
    _ask(browser)
    code = _code_for(rapp, mailbox)
    with rapp.app_context():
        db.session.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert _finish(browser, code).status_code == 422


def test_the_code_works_only_in_the_browser_that_asked(rapp, mailbox):
    asking, elsewhere = rapp.test_client(), rapp.test_client()
    _ask(asking)
    code = _code_for(rapp, mailbox)
    answer = elsewhere.get("/recover/code")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/recover")
    token = csrf_token(elsewhere, "/login")
    posted = elsewhere.post("/recover/code", data={
        "csrf_token": token, "code": code, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert (posted.status_code, posted.headers["Location"]) == (303, "/recover")
    assert sign_in(rapp.test_client()).status_code == 303  # unchanged


def test_the_new_password_follows_the_policy(rapp, mailbox):
    browser = rapp.test_client()
    _ask(browser)
    answer = _finish(browser, _code_for(rapp, mailbox), password="short")
    assert answer.status_code == 422
    assert sign_in(rapp.test_client()).status_code == 303


def test_each_number_may_ask_five_times_an_hour_known_or_not(rapp, mailbox):
    for identifier in (AN["identifier"], "031178290189"):
        client = rapp.test_client()
        statuses = [_ask(client, identifier=identifier).status_code for _ in range(6)]
        assert statuses == [303] * 5 + [429], identifier


def test_each_address_is_rate_limited(notify_environ, mailbox):
    application = _app(notify_environ, IDP_RECOVERY_RATE_LIMIT="3/minute")
    client = application.test_client()
    statuses = [_ask(client, identifier="031178290189").status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]


def test_without_channels_recovery_says_so_and_offers_other_ways(environ):
    application = _app(environ)
    page = application.test_client().get("/recover", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "not available on this service" in html
    assert "certificate" in html and "service counter" in html


def test_nothing_in_the_audit_log_names_the_code_or_the_contact(rapp, mailbox):
    browser = rapp.test_client()
    _ask(browser)
    code = _code_for(rapp, mailbox)
    _finish(browser, code)
    with rapp.app_context():
        details = str(db.session.scalars(select(AuditEvent.details)).all())
    assert code not in details and "an@example.vn" not in details

