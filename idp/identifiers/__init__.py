"""National identifier schemes behind one interface (:class:`IdentifierScheme`).

Built in: Vietnam's 12-digit personal identification number (``vn-pin``) and Russia's SNILS
(``ru-snils``). ``IDP_IDENTIFIER_SCHEME`` chooses the one citizens register and sign in with.
Organisations have schemes of their own (:data:`ORGANISATION_SCHEMES`): Vietnam's enterprise
and tax code (``vn-tax-code``) and Russia's OGRN (``ru-ogrn``); a person's number is never
accepted where an organisation's is expected, nor the reverse.
"""

from __future__ import annotations

from idp.identifiers.base import IdentifierFacts, IdentifierScheme, InvalidIdentifier
from idp.identifiers.ru_ogrn import Ogrn
from idp.identifiers.ru_snils import Snils
from idp.identifiers.vn_pin import VietnamPersonalNumber
from idp.identifiers.vn_tax_code import VietnamTaxCode

SCHEMES: dict[str, IdentifierScheme] = {
    scheme.name: scheme for scheme in (VietnamPersonalNumber(), Snils())
}

ORGANISATION_SCHEMES: dict[str, IdentifierScheme] = {
    scheme.name: scheme for scheme in (VietnamTaxCode(), Ogrn())
}


def get_scheme(name: str) -> IdentifierScheme:
    """The scheme called ``name``; KeyError for an unknown one."""
    return SCHEMES[name]


__all__ = ["ORGANISATION_SCHEMES", "SCHEMES", "IdentifierFacts", "IdentifierScheme", "InvalidIdentifier",
           "get_scheme"]
