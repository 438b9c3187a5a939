"""Self-registration at /register: accepted only against the population registry."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.auth.models import PasswordCredential
from idp.citizens.models import LEVEL_SELF_REGISTERED, Citizen, ContactClaim, NationalIdentifier
from idp.db import db
from tests.factories import AN, NGOC, PASSWORD, csrf_token, load_registry, make_citizen
from tests.schema import create_tables

MISMATCH = "These details do not match the population registry."


@pytest.fixture
def registry_app(app):
    load_registry(app)
    return app


def _form(client, **overrides):
    data = {"identifier": NGOC["identifier"], "full_name": NGOC["full_name"],
            "birthdate": NGOC["birthdate"].isoformat(), "email": "ngoc@example.vn", "phone": "",
            "password": PASSWORD, "password_confirm": PASSWORD}
    data.update(overrides)
    data["csrf_token"] = csrf_token(client, "/register")
    return data


def _register(client, **overrides):
    response = client.post("/register", data=_form(client, **overrides), headers={"Accept-Language": "en"})
    return response, response.get_data(as_text=True)


def test_matching_details_create_a_level_1_account_from_the_registry(registry_app):
    client = registry_app.test_client()
    response, _ = _register(client, full_name="trần thị BÍCH ngọc", phone="0912 345 678")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    with registry_app.app_context():
        citizen = db.session.scalar(select(Citizen).join(NationalIdentifier).where(
            NationalIdentifier.value == NGOC["identifier"]))
        assert citizen.level == LEVEL_SELF_REGISTERED
        assert citizen.full_name == NGOC["full_name"]  # the registry's spelling, not the typed one
        assert (citizen.family_name, citizen.middle_name, citizen.given_name) == ("Trần", "Thị Bích", "Ngọc")
        assert citizen.gender == "female"
        # Typed contacts are claims until a code proves them (tests/test_contact_verification.py).
        assert (citizen.email, citizen.phone) == (None, None)
        claims = {c.kind: c.value for c in db.session.scalars(select(ContactClaim))}
        assert claims == {"email": "ngoc@example.vn", "phone": "+84912345678"}
        credential = db.session.scalar(select(PasswordCredential).where(
            PasswordCredential.citizen_id == citizen.id))
        assert credential.hash.startswith("$argon2id$")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "citizen.create"))
        assert event.citizen_id == citizen.id and event.details == {"level": 1, "scheme": "vn-pin"}
    login = client.get("/login").get_data(as_text=True)
    assert f'value="{NGOC["identifier"]}"' in login  # prefilled, without the number in a URL


def _summary(html: str) -> str:
    return html[html.index('<div class="error-summary"'):html.index("</div>", html.index("error-summary"))]


def test_mismatch_gives_one_message_that_reveals_no_registry_field(registry_app):
    """Wrong name, wrong birth date and unknown number all give the same answer, which shows
    nothing only the registry knows (sex, place of birth, address)."""
    summaries = set()
    for overrides in ({"full_name": "Trần Thị Bích Ngà"}, {"birthdate": "1990-07-03"},
                      {"identifier": "079190999999"}):
        response, html = _register(registry_app.test_client(), **overrides)
        assert response.status_code == 422
        assert MISMATCH in html
        assert "Hồ Chí Minh" not in html and "Lê Lợi" not in html and "female" not in html.lower()
        summaries.add(_summary(html))
    assert len(summaries) == 1
    with registry_app.app_context():
        assert db.session.scalar(select(Citizen)) is None


def test_a_number_contradicting_the_typed_birth_date_says_which_digits(registry_app):
    response, html = _register(registry_app.test_client(), birthdate="1991-07-02")
    assert response.status_code == 422
    assert "Digits 5-6 of the number (year of birth) do not match the birth date." in html
    response, html = _register(registry_app.test_client(), birthdate="2090-07-02")
    assert "Digit 4 of the number (century of birth and sex) does not match the birth date." in html


def test_a_number_with_an_unknown_province_code_is_refused(registry_app):
    response, html = _register(registry_app.test_client(), identifier="003190320381")
    assert response.status_code == 422
    assert "Digits 1-3 of the number are not a province or city code." in html
    assert 'aria-invalid="true"' in html and 'id="identifier-error"' in html


@pytest.mark.parametrize(("password", "message"), [
    ("short1", "The password must have at least 10 characters."),
    ("password123", "This password is too common"),
    ("matkhau2024", "This password is too common"),
    ("079190320381", "must not be your identification number"),
])
def test_weak_passwords_are_refused(registry_app, password, message):
    response, html = _register(registry_app.test_client(), password=password, password_confirm=password)
    assert response.status_code == 422
    assert message in html


def test_a_second_registration_for_the_same_number_is_refused(registry_app):
    make_citizen(registry_app, NGOC, email="other@example.vn")
    response, html = _register(registry_app.test_client())
    assert response.status_code == 422
    assert "An account already exists for this number." in html


def test_an_email_used_by_another_account_is_not_revealed_nor_taken(registry_app):
    """Registration answers alike whoever uses the typed address; the address is only claimed,
    so the account that proved it keeps it."""
    other = make_citizen(registry_app, AN, email="ngoc@example.vn")
    response, html = _register(registry_app.test_client())
    assert response.status_code == 303
    assert "already used" not in html
    with registry_app.app_context():
        assert db.session.get(Citizen, other).email == "ngoc@example.vn"


def test_an_email_or_a_phone_is_required(registry_app):
    response, html = _register(registry_app.test_client(), email="", phone="")
    assert response.status_code == 422
    assert "Give an email address or a phone number (or both)." in html


def test_registration_without_csrf_token_is_refused(registry_app):
    client = registry_app.test_client()
    data = _form(client)
    del data["csrf_token"]
    response = client.post("/register", data=data)
    assert response.status_code == 400
    with registry_app.app_context():
        assert db.session.scalar(select(Citizen)) is None


def test_the_form_is_labelled_for_assistive_technology(registry_app):
    html = registry_app.test_client().get("/register").get_data(as_text=True)
    for name in ("identifier", "full_name", "birthdate", "email", "phone", "password"):
        assert f'<label for="{name}">' in html and f'id="{name}"' in html
    assert 'autocomplete="new-password"' in html


def test_snils_scheme_serves_registration_too(environ):
    """The interface carries another country's scheme end to end."""
    from idp import create_app

    environ = {**environ, "IDP_IDENTIFIER_SCHEME": "ru-snils"}
    application = create_app(environ)
    with application.app_context():
        create_tables()
    load_registry(application)
    client = application.test_client()
    response, html = _register(client, identifier="101 010 787 66", full_name="Иванова Мария Сергеевна",
                               birthdate="1987-06-15", phone="8 916 123-45-67")
    assert "The check number (last two digits) does not match the other digits." in html
    response, _ = _register(client, identifier="101-010-787 65", full_name="иванова мария сергеевна",
                            birthdate="1987-06-15", phone="8 916 123-45-67")
    assert response.status_code == 303
    with application.app_context():
        citizen = db.session.scalar(select(Citizen))
        assert (citizen.family_name, citizen.given_name, citizen.middle_name) == (
            "Иванова", "Мария", "Сергеевна")
        assert db.session.scalar(select(ContactClaim.value).where(
            ContactClaim.citizen_id == citizen.id, ContactClaim.kind == "phone")) == "+79161234567"
        db.session.remove()
        db.engine.dispose()
