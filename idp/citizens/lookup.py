"""Finding a citizen by what a person types to sign in: national number, email or phone.

Sign-in (:mod:`idp.auth`), the account pages and the admin command all look citizens up here.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Row

from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.models import Citizen, NationalIdentifier
from idp.db import db
from idp.db.types import nfc
from idp.identifiers import IdentifierScheme, InvalidIdentifier, get_scheme

MAX_USERNAME_LENGTH = 254


def scheme() -> IdentifierScheme:
    """The scheme citizens register and sign in with (``IDP_IDENTIFIER_SCHEME``)."""
    return get_scheme(current_app.config["IDP"].identifier_scheme)


def find_citizen(username: str) -> Citizen | None:
    """The citizen a sign-in name designates: national number, email or phone, in that order."""
    return _find(username, _CITIZEN, db.session.scalar)


def find_signing_in(username: str) -> Row | None:
    """The same citizen as :func:`find_citizen`, as the columns a password check and the SSO
    session need (``id``, ``level``, ``locked_until``): every password sign-in looks an account
    up, and loading the whole account as an ORM object cost a tenth of the request."""
    return _find(username, _SIGNING_IN, _row)


def _find(username: str, statements: tuple[Select, Select, Select], fetch):
    by_identifier, by_email, by_phone = statements
    username = nfc(username or "").strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return None
    current = scheme()
    try:
        value = current.parse(username)
    except InvalidIdentifier:
        value = None
    if value is not None:
        found = fetch(by_identifier, {"scheme": current.name, "value": value})
        if found is not None:
            return found
    if "@" in username:
        email = normalise_email(username)
        return fetch(by_email, {"email": email}) if email else None
    phone = normalise_phone(username, current)
    if phone is None:
        return None
    return fetch(by_phone, {"phone": phone})


def _row(statement: Select, params: dict) -> Row | None:
    return db.session.execute(statement, params).first()


def _statements(*columns) -> tuple[Select, Select, Select]:
    # Built once, with bound parameters: every password sign-in runs one of them, and building
    # the statement anew each time costs as much as running it.
    return (select(*columns).join(NationalIdentifier, NationalIdentifier.citizen_id == Citizen.id)
            .where(NationalIdentifier.scheme == bindparam("scheme"),
                   NationalIdentifier.value == bindparam("value")),
            select(*columns).where(Citizen.email == bindparam("email")),
            select(*columns).where(Citizen.phone == bindparam("phone")))


_CITIZEN = _statements(Citizen)
_SIGNING_IN = _statements(Citizen.id, Citizen.level, Citizen.locked_until)
