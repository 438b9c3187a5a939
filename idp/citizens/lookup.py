"""Finding a citizen by what a person types to sign in: national number, email or phone.

Sign-in (:mod:`idp.auth`), the account pages and the admin command all look citizens up here.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import bindparam, select

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
    username = nfc(username or "").strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return None
    current = scheme()
    try:
        value = current.parse(username)
    except InvalidIdentifier:
        value = None
    if value is not None:
        citizen = db.session.scalar(_BY_IDENTIFIER, {"scheme": current.name, "value": value})
        if citizen is not None:
            return citizen
    if "@" in username:
        email = normalise_email(username)
        return db.session.scalar(_BY_EMAIL, {"email": email}) if email else None
    phone = normalise_phone(username, current)
    if phone is None:
        return None
    return db.session.scalar(_BY_PHONE, {"phone": phone})


# Built once, with bound parameters: every password sign-in runs one of them, and building the
# statement anew each time costs as much as running it.
_BY_IDENTIFIER = select(Citizen).join(NationalIdentifier).where(
    NationalIdentifier.scheme == bindparam("scheme"), NationalIdentifier.value == bindparam("value"))
_BY_EMAIL = select(Citizen).where(Citizen.email == bindparam("email"))
_BY_PHONE = select(Citizen).where(Citizen.phone == bindparam("phone"))
