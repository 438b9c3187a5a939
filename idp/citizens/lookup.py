"""Finding a citizen by what a person types to sign in: national number, email or phone.

Sign-in (:mod:`idp.auth`), the account pages and the admin command all look citizens up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app
from sqlalchemy import Select, bindparam, select

from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.models import Citizen, NationalIdentifier
from idp.db import db
from idp.db.types import nfc
from idp.identifiers import IdentifierScheme, InvalidIdentifier, get_scheme

MAX_USERNAME_LENGTH = 254
T = TypeVar("T")


def scheme() -> IdentifierScheme:
    """The scheme citizens register and sign in with (``IDP_IDENTIFIER_SCHEME``)."""
    return get_scheme(current_app.config["IDP"].identifier_scheme)


def find_citizen(username: str) -> Citizen | None:
    """The citizen a sign-in name designates: national number, email or phone, in that order."""
    return find(username, _CITIZEN, db.session.scalar)


def find(username: str, statements: tuple[Select, Select, Select],
         fetch: Callable[[Select, dict], T]) -> T | None:
    """What ``fetch`` (``db.session.scalar``, or a function returning a row) reads with the
    one of ``statements`` (built by :func:`narrowed`) that matches the kind of sign-in name:
    national number, email or phone, in that order. None when nothing matches."""
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


def narrowed(base: Select) -> tuple[Select, Select, Select]:
    """``base`` (a select from ``citizens``, maybe joined to more) narrowed to the citizen of a
    national number, of an email, of a phone: the statements :func:`find` takes. Build them
    once, with their bound parameters: building a statement anew each time costs as much as
    running it, and every sign-in runs one."""
    return (base.join(NationalIdentifier, NationalIdentifier.citizen_id == Citizen.id)
            .where(NationalIdentifier.scheme == bindparam("scheme"),
                   NationalIdentifier.value == bindparam("value")),
            base.where(Citizen.email == bindparam("email")),
            base.where(Citizen.phone == bindparam("phone")))


_CITIZEN = narrowed(select(Citizen))
