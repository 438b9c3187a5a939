"""``idp citizens`` as an administrator at a counter runs it: an account created with the
password on stdin signs in over HTTP; lock ends every session (``session_ended`` fires, which
back-channel logout listens to) and refuses sign-in; level, second factors, sessions; every
change audited with the admin's OS user, never with personal data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from idp.auth.app_models import AppDevice
from idp.auth.models import RecoveryCode, SsoSession, TotpCredential, WebAuthnCredential
from idp.auth.sessions import session_ended
from idp.db import db
from tests.admin_support import ADMIN, admin_events, idp, idp_json
from tests.factories import AN, NGOC, PASSWORD, load_registry, sign_in
from tests.helpers import run_idp
from tests.oidc_support import code_for, register

PERSON = ["--national-id", AN["identifier"], "--full-name", AN["full_name"],
          "--birthdate", "1985-03-14", "--gender", "male"]


@pytest.fixture
def registry_app(app):
    load_registry(app)
    return app


def _create(app, *extra: str, password: str = PASSWORD) -> dict:
    return idp_json(app, "citizens", "create", *PERSON, "--password-stdin", *extra,
                    input=password + "\n")


def test_created_citizen_signs_in_over_http_with_the_password_from_stdin(registry_app):
    created = _create(registry_app, "--email", "an@example.vn", "--level", "2")
    assert created["national_id"] == AN["identifier"] and created["level"] == 2
    assert isinstance(created["id"], int) and created["uid"]
    browser = registry_app.test_client()
    assert sign_in(browser, AN["identifier"], "wrong password here").status_code == 422
    response = sign_in(browser, "an@example.vn", PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert browser.get("/account").status_code == 200
    event = admin_events(registry_app, "citizen.create")[0]
    assert event.actor == ADMIN and event.citizen_id == created["id"]
    assert AN["identifier"] not in json.dumps(event.details) and PASSWORD not in json.dumps(event.details)


@pytest.mark.parametrize("change,message", [
    (["--full-name", "Nguyễn Văn Bình"], "full_name: the full name differs"),
    (["--birthdate", "1985-03-15"], "birthdate: the birth date differs"),
    (["--gender", "female"], "gender: Digit 4 of the number"),
    (["--national-id", "001085888275"], "identifier:"),
])
def test_create_refuses_what_the_registry_contradicts_with_one_line(registry_app, change, message):
    args = list(PERSON)
    for name, value in zip(change[::2], change[1::2], strict=True):
        args[args.index(name) + 1] = value
    result = idp(registry_app, "citizens", "create", *args, "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("idp: " + message) and result.stderr.count("\n") == 1


@pytest.mark.parametrize("national_id,change,message", [
    # Not in the registry, and its own digits contradict what the admin typed: say which digit.
    ("001085000001", ["--gender", "female"],
     "gender: Digit 4 of the number (century of birth and sex) does not match the registered sex."),
    ("001086000001", [], "birthdate: Digits 5-6 of the number (year of birth) do not match the birth date."),
    ("001205000001", [], "birthdate: Digit 4 of the number (century of birth and sex) does not match "
                         "the birth date."),
])
def test_create_names_the_digit_that_contradicts_the_given_gender_or_birthdate_before_the_registry(
        registry_app, national_id, change, message):
    args = list(PERSON)
    args[args.index("--national-id") + 1] = national_id
    for name, value in zip(change[::2], change[1::2], strict=True):
        args[args.index(name) + 1] = value
    result = idp(registry_app, "citizens", "create", *args, "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("idp: " + message), result.stderr
    assert "registry" not in result.stderr


def test_create_refuses_a_weak_password_and_a_missing_one(registry_app):
    weak = idp(registry_app, "citizens", "create", *PERSON, "--password-stdin", input="123456\n")
    assert weak.exit_code == 1 and weak.stderr.startswith("idp: password:")
    empty = idp(registry_app, "citizens", "create", *PERSON, "--password-stdin", input="")
    assert empty.exit_code == 1 and empty.stderr == "idp: no password on standard input\n"
    assert idp(registry_app, "citizens", "show", AN["identifier"]).exit_code == 1


def test_lock_ends_every_session_and_refuses_sign_in_until_unlock(registry_app):
    created = _create(registry_app)
    browsers = [registry_app.test_client() for _ in range(2)]
    for browser in browsers:
        assert sign_in(browser).status_code == 303
    sessions = idp_json(registry_app, "citizens", "sessions", AN["identifier"])
    assert len(sessions) == 2 and all(s["sid"] for s in sessions)

    ended = []
    with session_ended.connected_to(lambda sender, **kw: ended.append(kw["reason"])):
        locked = idp_json(registry_app, "citizens", "lock", AN["identifier"], "--reason", "stolen ID card")
    assert locked == {"id": created["id"], "locked": True, "sessions_ended": 2}
    assert ended == ["admin_lock", "admin_lock"]
    assert browsers[0].get("/account").status_code in (302, 303)
    refused = sign_in(registry_app.test_client())
    assert refused.status_code == 403
    shown = idp_json(registry_app, "citizens", "show", AN["identifier"])
    assert shown["locked"] is True and shown["lock_reason"] == "stolen ID card"

    idp_json(registry_app, "citizens", "unlock", created["uid"])
    assert sign_in(registry_app.test_client()).status_code == 303
    actions = [(e.action, e.actor) for e in admin_events(registry_app, "citizen.")]
    assert ("citizen.locked", ADMIN) in actions and ("citizen.unlocked", ADMIN) in actions


def test_sessions_name_the_services_that_joined_each_session(registry_app):
    """As the account page does: each session lists the relying parties (name and client id)
    that signed in through it, in the text and in --json."""
    _create(registry_app)
    register(registry_app, client_id="portal", name="Cổng dịch vụ công")
    register(registry_app, client_id="tax", name="Thuế điện tử")
    joined, alone = registry_app.test_client(), registry_app.test_client()
    assert sign_in(joined).status_code == 303 and sign_in(alone).status_code == 303
    for client_id in ("portal", "tax"):
        assert "code" in code_for(joined, client_id, scope="openid")

    sessions = idp_json(registry_app, "citizens", "sessions", AN["identifier"])
    services = sorted(s["services"] for s in sessions)
    assert services == [[], [{"client_id": "portal", "name": "Cổng dịch vụ công"},
                             {"client_id": "tax", "name": "Thuế điện tử"}]]
    text = idp(registry_app, "citizens", "sessions", AN["identifier"])
    assert text.exit_code == 0
    assert "Cổng dịch vụ công (portal), Thuế điện tử (tax)" in text.stdout
    assert "no service" in text.stdout


def test_logout_ends_every_session_with_the_signal(registry_app):
    _create(registry_app)
    browser = registry_app.test_client()
    sign_in(browser)
    ended = []
    with session_ended.connected_to(lambda sender, **kw: ended.append(kw["sso_session"].sid)):
        out = idp_json(registry_app, "citizens", "logout", AN["identifier"])
    assert out["sessions_ended"] == 1 and len(ended) == 1
    assert idp_json(registry_app, "citizens", "sessions", AN["identifier"]) == []
    with registry_app.app_context():
        assert db.session.scalar(select(SsoSession.end_reason)) == "admin_logout"


def test_set_level_needs_a_reason_and_is_audited(registry_app):
    created = _create(registry_app)
    assert idp(registry_app, "citizens", "set-level", AN["identifier"], "2").exit_code == 2
    assert idp(registry_app, "citizens", "set-level", AN["identifier"], "3", "--reason", "x").exit_code == 2
    out = idp_json(registry_app, "citizens", "set-level", AN["identifier"], "2",
                   "--reason", "ID card checked at counter 4")
    assert out == {"id": created["id"], "level": 2}
    event = admin_events(registry_app, "citizen.level")[0]
    assert event.details == {"from": 1, "to": 2, "reason": "ID card checked at counter 4"}
    assert event.actor == ADMIN


def test_reset_mfa_removes_authenticator_and_recovery_codes_only_of_that_citizen(registry_app):
    created = _create(registry_app)
    other = idp_json(registry_app, "citizens", "create", "--national-id", NGOC["identifier"],
                     "--full-name", NGOC["full_name"], "--birthdate", "1990-07-02", "--gender", "female",
                     "--password-stdin", input=PASSWORD + "\n")
    with registry_app.app_context():
        for citizen_id in (created["id"], other["id"]):
            db.session.add(TotpCredential(citizen_id=citizen_id, secret_encrypted=b"x"))
            db.session.add_all([RecoveryCode(citizen_id=citizen_id, digest=f"d{i}") for i in range(3)])
            db.session.add(WebAuthnCredential(citizen_id=citizen_id, credential_id=f"c{citizen_id}".encode(),
                                              public_key=b"k", name="phone"))
            db.session.add(AppDevice(citizen_id=citizen_id, device_id=f"dev{citizen_id}", name="phone",
                                     public_jwk={}, thumbprint=f"t{citizen_id}"))
        db.session.commit()
    out = idp_json(registry_app, "citizens", "reset-mfa", AN["identifier"])
    assert out == {"id": created["id"], "removed": {"totp": 1, "recovery_codes": 3, "passkeys": 1, "apps": 1}}
    with registry_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TotpCredential)) == 1
        assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 3
        assert db.session.scalar(select(func.count()).select_from(WebAuthnCredential)) == 1
        assert db.session.scalar(select(func.count()).select_from(AppDevice)) == 1
    event = admin_events(registry_app, "citizen.mfa_reset")[0]
    assert event.actor == ADMIN and event.citizen_id == created["id"]
    # The password still works.
    assert sign_in(registry_app.test_client()).status_code == 303


def test_import_creates_accounts_all_or_nothing(registry_app, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("national_id,full_name,birthdate,gender,email,level\n"
                    f"{AN['identifier']},{AN['full_name']},1985-03-14,male,an@example.vn,2\n"
                    f"{NGOC['identifier']},{NGOC['full_name']},1990-07-02,female,,1\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("national_id,full_name,birthdate,gender\n"
                   f"{AN['identifier']},{AN['full_name']},1985-03-14,male\n"
                   f"{NGOC['identifier']},Someone Else,1990-07-02,female\n", encoding="utf-8")
    refused = idp(registry_app, "citizens", "import", str(bad))
    assert refused.exit_code == 1 and "line 3: full_name" in refused.stderr
    assert idp(registry_app, "citizens", "show", AN["identifier"]).exit_code == 1
    done = idp_json(registry_app, "citizens", "import", str(good))
    assert done["created"] == 2 and len(done["ids"]) == 2
    assert idp_json(registry_app, "citizens", "show", "an@example.vn")["level"] == 2
    # No password came with the file: password sign-in is impossible until one is set.
    assert sign_in(registry_app.test_client(), AN["identifier"], PASSWORD).status_code == 422


def test_an_imported_account_gets_a_password_by_set_password_and_signs_in(registry_app, tmp_path):
    """`citizens set-password`: the password policy applies, the account signs in with it over
    HTTP, a replaced password signs the old sessions out, and it is audited without the secret."""
    imported = tmp_path / "counter.csv"
    imported.write_text("national_id,full_name,birthdate,gender\n"
                        f"{AN['identifier']},{AN['full_name']},1985-03-14,male\n", encoding="utf-8")
    idp_json(registry_app, "citizens", "import", str(imported))
    weak = idp(registry_app, "citizens", "set-password", AN["identifier"], "--password-stdin",
               input=AN["identifier"] + "\n")
    assert weak.exit_code == 1 and weak.stderr.startswith("idp: password:")
    assert sign_in(registry_app.test_client(), AN["identifier"], PASSWORD).status_code == 422

    first = idp_json(registry_app, "citizens", "set-password", AN["identifier"], "--password-stdin",
                     input=PASSWORD + "\n")
    assert first["replaced"] is False and first["sessions_ended"] == 0
    browser = registry_app.test_client()
    assert sign_in(browser, AN["identifier"], PASSWORD).status_code == 303
    assert browser.get("/account").status_code == 200

    other = PASSWORD + " and a new line"
    second = idp_json(registry_app, "citizens", "set-password", AN["identifier"], "--password-stdin",
                      input=other + "\n")
    assert second == {"id": first["id"], "replaced": True, "sessions_ended": 1}
    assert browser.get("/account").status_code in (302, 303)
    assert sign_in(registry_app.test_client(), AN["identifier"], PASSWORD).status_code == 422
    assert sign_in(registry_app.test_client(), AN["identifier"], other).status_code == 303
    events = admin_events(registry_app, "password.set")
    assert [(e.actor, e.details) for e in events] == [(ADMIN, {"replaced": False}),
                                                      (ADMIN, {"replaced": True})]


def test_unknown_citizen_is_one_line_and_exit_1(registry_app):
    result = idp(registry_app, "citizens", "lock", "nobody@example.vn", "--reason", "x")
    assert result.exit_code == 1
    assert result.stderr == "idp: no citizen account matches this reference\n"


def test_the_console_script_creates_a_citizen_from_stdin(registry_app, environ):
    done = run_idp(["citizens", "create", *PERSON, "--password-stdin", "--json"], environ,
                   input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["national_id"] == AN["identifier"]
    assert sign_in(registry_app.test_client()).status_code == 303


def test_every_citizens_command_has_an_example_in_its_help(app):
    for command in ("create", "import", "show", "lock", "unlock", "set-level", "reset-mfa",
                    "set-password", "sessions", "logout"):
        result = idp(app, "citizens", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command


def test_registry_commands_take_json(app):
    from tests.factories import SAMPLE_REGISTRY

    imported = idp_json(app, "registry", "import", str(SAMPLE_REGISTRY))
    assert imported["created"] > 0 and imported["updated"] == 0
    shown = idp_json(app, "registry", "show", AN["identifier"])
    assert shown["identifier"].replace(" ", "") == AN["identifier"]
    assert shown["full_name"] == AN["full_name"] and shown["birth_date"] == "1985-03-14"
