"""The citizen's account pages: profile, sessions, consents, sign-in history, password change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.auth.models import SsoSession
from idp.auth.sessions import COOKIE_NAME
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client, Consent, RefreshTokenFamily
from tests.factories import AN, NGOC, PASSWORD, load_registry, make_citizen, page_csrf, sign_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def citizen_app(app):
    load_registry(app)
    app.config["CITIZEN_ID"] = make_citizen(app, AN, email="an@example.vn")
    return app


@pytest.fixture
def signed_in(citizen_app):
    client = citizen_app.test_client()
    assert sign_in(client).status_code == 303
    return client


def _post(client, path, page, data=None):
    body = {"csrf_token": page_csrf(client, page), **(data or {})}
    return client.post(path, data=body, headers=EN)


@pytest.mark.parametrize("path", ["/account", "/account/sessions", "/account/consents",
                                  "/account/history", "/account/password"])
def test_account_pages_need_a_session_and_come_back_after_sign_in(citizen_app, path):
    client = citizen_app.test_client()
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/login?next={path}"
    assert sign_in(client, next=path).headers["Location"] == path
    page = client.get(path, headers=EN)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"


def test_profile_shows_registry_data_read_only(signed_in):
    html = signed_in.get("/account", headers=EN).get_data(as_text=True)
    assert "Nguyễn Văn An" in html and "001085888274" in html and "14/03/1985" in html
    assert "Hà Nội" in html and "Hàng Bạc" in html  # place of birth and address from the registry
    assert "Level 1 account" in html
    assert 'name="full_name"' not in html and 'name="birthdate"' not in html  # not editable


def test_malformed_contact_details_are_refused_and_nothing_changes(signed_in, citizen_app):
    bad = _post(signed_in, "/account/contacts", "/account", {"email": "not an email", "phone": ""})
    assert bad.status_code == 422
    assert "Enter an email address such as name@example.vn." in bad.get_data(as_text=True)
    with citizen_app.app_context():
        assert db.session.get(Citizen, citizen_app.config["CITIZEN_ID"]).email == "an@example.vn"


def test_sign_out_one_session_from_another(citizen_app):
    laptop, phone = citizen_app.test_client(), citizen_app.test_client()
    sign_in(laptop)
    sign_in(phone)
    html = laptop.get("/account/sessions", headers=EN).get_data(as_text=True)
    assert html.count("Sign out this session") == 2 and "(this device)" in html
    with citizen_app.app_context():
        phone_session = db.session.scalars(select(SsoSession).order_by(SsoSession.id)).all()[1]
    response = _post(laptop, f"/account/sessions/{phone_session.id}/end", "/account/sessions")
    assert response.status_code == 303
    assert phone.get("/account").status_code == 303  # the phone is signed out
    assert laptop.get("/account").status_code == 200  # the laptop is not
    again = _post(laptop, f"/account/sessions/{phone_session.id}/end", "/account/sessions")
    assert again.status_code == 404


def test_a_session_of_someone_else_cannot_be_ended(citizen_app):
    make_citizen(citizen_app, NGOC, email="ngoc@example.vn")
    mine, theirs = citizen_app.test_client(), citizen_app.test_client()
    sign_in(mine)
    sign_in(theirs, username=NGOC["identifier"])
    with citizen_app.app_context():
        their_session = db.session.scalar(select(SsoSession).where(SsoSession.citizen_id != (
            citizen_app.config["CITIZEN_ID"])))
    response = _post(mine, f"/account/sessions/{their_session.id}/end", "/account/sessions")
    assert response.status_code == 404
    assert theirs.get("/account").status_code == 200


def test_sign_out_all_other_sessions(citizen_app):
    clients = [citizen_app.test_client() for _ in range(3)]
    for client in clients:
        sign_in(client)
    response = _post(clients[0], "/account/sessions/end-others", "/account/sessions")
    assert response.status_code == 303
    assert "Signed out of 2 other sessions." in clients[0].get("/account/sessions", headers=EN).get_data(
        as_text=True)
    assert [c.get("/account").status_code for c in clients] == [200, 303, 303]


def test_ending_the_current_session_from_the_list_signs_this_browser_out(signed_in, citizen_app):
    with citizen_app.app_context():
        current = db.session.scalar(select(SsoSession))
    response = _post(signed_in, f"/account/sessions/{current.id}/end", "/account/sessions")
    assert response.status_code == 200 and "You are signed out" in response.get_data(as_text=True)
    assert signed_in.get_cookie(COOKIE_NAME) is None


def _consent(app, name="Cổng Dịch vụ công", client_id="portal"):
    with app.app_context():
        client = Client(client_id=client_id, name=name, redirect_uris=["https://rp.example/cb"])
        db.session.add(client)
        db.session.flush()
        consent = Consent(citizen_id=app.config["CITIZEN_ID"], client_pk=client.id,
                          scopes=["openid", "profile"])
        family = RefreshTokenFamily(client_pk=client.id, citizen_id=app.config["CITIZEN_ID"],
                                    scope="openid profile", auth_time=utcnow())
        db.session.add_all([consent, family])
        db.session.commit()
        return consent.id, family.id


def test_revoke_a_consent_also_revokes_the_clients_refresh_tokens(signed_in, citizen_app):
    consent_id, family_id = _consent(citizen_app)
    html = signed_in.get("/account/consents", headers=EN).get_data(as_text=True)
    assert "Cổng Dịch vụ công" in html and "openid, profile" in html
    response = _post(signed_in, f"/account/consents/{consent_id}/revoke", "/account/consents")
    assert response.status_code == 303
    with citizen_app.app_context():
        assert db.session.get(Consent, consent_id).revoked_at is not None
        family = db.session.get(RefreshTokenFamily, family_id)
        assert family.revoked_at is not None and family.revoked_reason == "consent_revoked"
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "consent.revoke"))
        assert event.client_id == "portal" and event.details == {"scopes": ["openid", "profile"]}
    after = signed_in.get("/account/consents", headers=EN).get_data(as_text=True)
    assert "Cổng Dịch vụ công" not in after
    again = _post(signed_in, f"/account/consents/{consent_id}/revoke", "/account/consents")
    assert again.status_code == 404


def test_a_consent_of_someone_else_cannot_be_revoked(citizen_app):
    consent_id, _ = _consent(citizen_app)
    make_citizen(citizen_app, NGOC, email="ngoc@example.vn")
    other = citizen_app.test_client()
    sign_in(other, username=NGOC["identifier"])
    response = _post(other, f"/account/consents/{consent_id}/revoke", "/account/consents")
    assert response.status_code == 404
    with citizen_app.app_context():
        assert db.session.get(Consent, consent_id).revoked_at is None


def test_sign_in_history_lists_successes_and_failures_with_ip_and_device(citizen_app):
    client = citizen_app.test_client()
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    client.environ_base["HTTP_USER_AGENT"] = firefox
    sign_in(client, password="wrong password", remote_addr="203.0.113.7")
    sign_in(client, remote_addr="203.0.113.8")
    html = client.get("/account/history", headers=EN).get_data(as_text=True)
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert len(rows) == 2
    assert "Success" in rows[0] and "203.0.113.8" in rows[0] and "Firefox · Windows" in rows[0]
    assert "Failed" in rows[1] and "203.0.113.7" in rows[1] and "Password" in rows[1]
    with citizen_app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signin")).all()
        assert [(e.outcome, e.ip_address, e.user_agent) for e in events] == [
            ("failure", "203.0.113.7", firefox), ("success", "203.0.113.8", firefox)]


def test_password_change_needs_the_current_password_and_signs_out_other_sessions(citizen_app):
    this, other = citizen_app.test_client(), citizen_app.test_client()
    sign_in(this)
    sign_in(other)
    new = "một mật khẩu mới dài"
    wrong = _post(this, "/account/password", "/account/password",
                  {"current_password": "not it", "password": new, "password_confirm": new})
    assert wrong.status_code == 422 and "The current password is wrong." in wrong.get_data(as_text=True)
    weak = _post(this, "/account/password", "/account/password",
                 {"current_password": PASSWORD, "password": "password1", "password_confirm": "password1"})
    assert weak.status_code == 422
    mismatch = _post(this, "/account/password", "/account/password",
                     {"current_password": PASSWORD, "password": new, "password_confirm": new + "x"})
    assert "The two passwords are not the same." in mismatch.get_data(as_text=True)
    done = _post(this, "/account/password", "/account/password",
                 {"current_password": PASSWORD, "password": new, "password_confirm": new})
    assert done.status_code == 303
    assert this.get("/account").status_code == 200
    assert other.get("/account").status_code == 303
    fresh = citizen_app.test_client()
    assert sign_in(fresh, password=PASSWORD).status_code == 422
    assert sign_in(fresh, password=new).status_code == 303
    with citizen_app.app_context():
        outcomes = [e.outcome for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "password.change"))]
    assert outcomes == ["failure", "success"]


def test_account_forms_need_csrf(signed_in):
    assert signed_in.post("/account/sessions/end-others").status_code == 400
    assert signed_in.post("/account/contacts", data={"email": "x@example.vn"}).status_code == 400


def test_an_email_with_control_characters_is_refused(signed_in):
    response = _post(signed_in, "/account/contacts", "/account", {"email": "an\x00@example.vn"})
    assert response.status_code == 422
    assert "Enter an email address such as name@example.vn." in response.get_data(as_text=True)
