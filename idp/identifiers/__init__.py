"""National identifier schemes behind one interface (:class:`IdentifierScheme`).

Built in: Vietnam's 12-digit personal identification number (``vn-pin``) and Russia's SNILS
(``ru-snils``). ``IDP_IDENTIFIER_SCHEME`` chooses the one citizens register and sign in with.
"""

from __future__ import annotations

from idp.identifiers.base import IdentifierFacts, IdentifierScheme, InvalidIdentifier
from idp.identifiers.ru_snils import Snils
from idp.identifiers.vn_pin import VietnamPersonalNumber

SCHEMES: dict[str, IdentifierScheme] = {
    scheme.name: scheme for scheme in (VietnamPersonalNumber(), Snils())
}


def get_scheme(name: str) -> IdentifierScheme:
    """The scheme called ``name``; KeyError for an unknown one."""
    return SCHEMES[name]


__all__ = ["SCHEMES", "IdentifierFacts", "IdentifierScheme", "InvalidIdentifier", "get_scheme"]
