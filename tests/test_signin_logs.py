"""No personal data in any log line: the logs of a registration, sign-ins (good, bad, locked)
and a sign-out are captured at DEBUG level, from every logger, and searched."""

from __future__ import annotations

import logging
import unicodedata

from idp import create_app
from idp.db import db
from tests.factories import NGOC, PASSWORD, csrf_token, load_registry, sign_in
from tests.schema import create_tables


def _secrets() -> list[str]:
    name = NGOC["full_name"]
    values = [NGOC["identifier"], "079 190 320 381", name, name.casefold(),
              unicodedata.normalize("NFD", name), "Bích Ngọc", PASSWORD, "wrong password here",
              "ngoc@example.vn", "912345678", NGOC["birthdate"].isoformat()]
    return values


def test_logs_of_registration_and_sign_in_hold_no_personal_data(environ, caplog):
    app = create_app({**environ, "IDP_LOG_LEVEL": "DEBUG", "IDP_LOGIN_MAX_FAILURES": "3",
                      "IDP_LOGIN_RATE_LIMIT": "1000/minute"})
    app.config["TESTING"] = True
    with app.app_context():
        create_tables()
    load_registry(app)
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its own loggers at WARNING; an operator debugging SQL turns them up.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    client = app.test_client()

    client.post("/register", data={
        "csrf_token": csrf_token(client, "/register"), "identifier": "079 190 320 381",
        "full_name": NGOC["full_name"], "birthdate": NGOC["birthdate"].isoformat(),
        "email": "ngoc@example.vn", "phone": "0912345678", "password": PASSWORD,
        "password_confirm": PASSWORD})
    assert sign_in(client, NGOC["identifier"]).status_code == 303
    client.post("/signout", data={"csrf_token": csrf_token(client, "/account")})
    for _ in range(4):  # wrong passwords up to and past the lock
        sign_in(client, "ngoc@example.vn", password="wrong password here")
    sign_in(client, "079190999999", password="wrong password here")  # unknown account

    records = caplog.records
    assert any(r.name.startswith("idp.auth") for r in records)  # sign-ins are logged...
    assert any(r.name.startswith("sqlalchemy") for r in records)  # ...and SQL at this level
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {getattr(r, 'sql_params', '')}" for r in records)
    for value in _secrets():
        assert value not in text, f"{value!r} appears in the logs"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
