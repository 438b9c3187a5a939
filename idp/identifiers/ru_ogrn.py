"""Russia's OGRN (основной государственный регистрационный номер), the primary state
registration number of a legal entity, an organisation scheme.

Order of the Ministry of Finance No. 29n (2002) on the Unified State Register of Legal
Entities: 13 digits ``S YY KK XX NNNNN C``: ``S`` the kind of record (1 or 5 for a legal
entity's primary registration), ``YY`` the year, ``KK`` the federal subject, ``XX`` the tax
office, ``NNNNN`` a serial, ``C`` the check digit: the remainder of the 12-digit number
``S..N`` divided by 11, its last digit when the remainder is 10.

Checked against python-stdnum's ``stdnum.ru.ogrn``
(https://github.com/arthurdejong/python-stdnum/blob/master/stdnum/ru/ogrn.py, examples
1022200525819 valid, 1022500001328 refused).
"""

from __future__ import annotations

from typing import ClassVar

from idp.identifiers.base import IdentifierScheme, InvalidIdentifier


def check_digit(body: str) -> int:
    """C for the first twelve digits."""
    return int(body) % 11 % 10


class Ogrn(IdentifierScheme):
    name: ClassVar[str] = "ru-ogrn"
    length: ClassVar[int] = 13
    calling_code: ClassVar[str] = "7"
    trunk_prefix: ClassVar[str] = "8"

    def validate(self, value: str) -> None:
        if value[0] not in "15":
            raise InvalidIdentifier("kind", "digit 1 must be 1 or 5 for a legal entity")
        if check_digit(value[:12]) != int(value[12]):
            raise InvalidIdentifier("check_digit", "the check digit (digit 13) does not match")
