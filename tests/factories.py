"""Test data made through the same service functions the server uses.

The sample registry (``scripts/demo_registry.csv``) is the one ``./scripts/run`` loads; tests
use its fictional people.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from idp.accounts import services
from idp.citizens import registry
from idp.db import db

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_REGISTRY = ROOT / "scripts" / "demo_registry.csv"
PASSWORD = "correct horse battery"

#: People of the sample registry (fictional).
AN = {"identifier": "001085888274", "full_name": "Nguyễn Văn An", "birthdate": date(1985, 3, 14),
      "gender": "male"}
NGOC = {"identifier": "079190320381", "full_name": "Trần Thị Bích Ngọc", "birthdate": date(1990, 7, 2),
        "gender": "female"}
PHUC = {"identifier": "048201261421", "full_name": "Lê Hoàng Phúc", "birthdate": date(2001, 11, 23),
        "gender": "male"}


def load_registry(app) -> None:
    with app.app_context(), open(SAMPLE_REGISTRY, encoding="utf-8-sig", newline="") as handle:
        result = registry.import_csv(handle, "vn-pin")
        assert not result.errors, result.errors
        db.session.commit()


def make_citizen(app, person=AN, *, password: str = PASSWORD, email: str | None = "an@example.vn",
                 phone: str | None = None) -> int:
    """A citizen created from the registry entry of ``person``; returns the citizen id."""
    with app.app_context():
        entry = registry.lookup("vn-pin", person["identifier"])
        citizen = services.create_citizen_from_registry(entry, password, email=email, phone=phone)
        db.session.commit()
        return citizen.id


def make_app(environ: dict[str, str], **settings: str):
    """A test app with ``settings`` (``IDP_*`` names) over ``environ`` and its tables; the caller
    disposes of its engine."""
    from idp import create_app
    from tests.schema import create_tables

    app = create_app({**environ, **settings})
    app.config["TESTING"] = True
    with app.app_context():
        create_tables()
    return app


def app_with_citizen(environ: dict[str, str], **settings: str):
    """:func:`make_app` with the sample registry and one citizen (AN)."""
    app = make_app(environ, **settings)
    load_registry(app)
    make_citizen(app, AN)
    return app


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def sign_in(client, username: str = AN["identifier"], password: str = PASSWORD, *,
            remote_addr: str = "127.0.0.1", language: str = "en", **query):
    token = csrf_token(client)
    return client.post("/login", query_string=query, environ_base={"REMOTE_ADDR": remote_addr},
                       headers={"Accept-Language": language},
                       data={"csrf_token": token, "username": username, "password": password})


def page_csrf(client, path: str) -> str:
    """The CSRF token of a signed-in page (the account pages' forms)."""
    return csrf_token(client, path)
