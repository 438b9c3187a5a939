"""Russia's SNILS, the individual insurance account number (a second scheme).

Federal Law 27-FZ of 1 April 1996; the check number rule is the Pension Fund's: 11 digits
``NNN-NNN-NNN CC``. For numbers above 001-001-998, S = sum of the first nine digits weighted
9..1; the check number is ``(S mod 101) mod 100`` (so 100 and 101 give 00). Numbers up to
001-001-998 were issued before the rule and carry no computed check number.
"""

from __future__ import annotations

from typing import ClassVar

from idp.identifiers.base import IdentifierScheme, InvalidIdentifier

_FIRST_CHECKED = 1001999


def check_number(body: str) -> int:
    """The control number of the nine-digit body."""
    total = sum(int(digit) * (9 - index) for index, digit in enumerate(body))
    return total % 101 % 100


class Snils(IdentifierScheme):
    name: ClassVar[str] = "ru-snils"
    length: ClassVar[int] = 11
    calling_code: ClassVar[str] = "7"
    trunk_prefix: ClassVar[str] = "8"
    name_order: ClassVar[tuple[str, ...]] = ("family", "given", "middle")

    def validate(self, value: str) -> None:
        if int(value[:9]) >= _FIRST_CHECKED and check_number(value[:9]) != int(value[9:]):
            raise InvalidIdentifier("checksum", "the check number (last two digits) does not match")

    def display(self, value: str) -> str:
        return f"{value[:3]}-{value[3:6]}-{value[6:9]} {value[9:]}"
