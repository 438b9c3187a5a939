"""Vietnam's enterprise and tax code (mã số doanh nghiệp / mã số thuế), an organisation scheme.

Circular 105/2020/TT-BTC art. 5 (and 95/2016 before it): ``N1N2 N3..N9 N10`` for the
enterprise itself, ``N1..N10-N11N12N13`` for a dependent unit (branch).

- ``N1N2``: the province where the number was issued;
- ``N3..N9``: a serial, never all zeros;
- ``N10``: the check digit of the first nine: with weights 31, 29, 23, 19, 17, 13, 7, 5, 3,
  ``N10 = 10 - (sum mod 11)``; a body whose sum leaves remainder 0 gets no number;
- ``N11..N13``: the branch, 001 to 999.

The weights and the rule are those of python-stdnum's ``stdnum.vn.mst``
(https://github.com/arthurdejong/python-stdnum/blob/master/stdnum/vn/mst.py, examples
0100233488 valid, 0100233480 refused), which cites the tax administration's own descriptions.
"""

from __future__ import annotations

from typing import ClassVar

from idp.identifiers.base import _SEPARATORS, MAX_INPUT_LENGTH, IdentifierScheme, InvalidIdentifier

WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def check_digit(body: str) -> int | None:
    """N10 for the nine digits ``body``; None when no number can have this body."""
    remainder = sum(weight * int(digit) for weight, digit in zip(WEIGHTS, body, strict=True)) % 11
    return None if remainder == 0 else 10 - remainder


class VietnamTaxCode(IdentifierScheme):
    name: ClassVar[str] = "vn-tax-code"
    length: ClassVar[int] = 10
    calling_code: ClassVar[str] = "84"

    def normalise(self, raw: str) -> str:
        """10 digits, or 13 for a branch (``0314409058-002`` is ``0314409058002``)."""
        if len(raw) > MAX_INPUT_LENGTH:
            raise InvalidIdentifier("length", f"longer than {MAX_INPUT_LENGTH} characters")
        compact = _SEPARATORS.sub("", raw)
        if not compact.isascii() or not compact.isdigit():
            raise InvalidIdentifier("characters", "only digits are allowed")
        if len(compact) not in (10, 13):
            raise InvalidIdentifier("length", "must have 10 digits, or 13 for a branch")
        return compact

    def validate(self, value: str) -> None:
        if value[2:9] == "0000000":
            raise InvalidIdentifier("serial", "digits 3-9 cannot all be zero")
        if len(value) == 13 and value[10:] == "000":
            raise InvalidIdentifier("branch", "a branch suffix runs from 001 to 999")
        if check_digit(value[:9]) != int(value[9]):
            raise InvalidIdentifier("check_digit", "the check digit (digit 10) does not match")

    def display(self, value: str) -> str:
        return value if len(value) == 10 else f"{value[:10]}-{value[10:]}"
