"""Vietnam's 12-digit personal identification number (mã định danh cá nhân).

Circular 59/2021/TT-BCA (and 07/2016 before it): ``PPP G YY NNNNNN``, printed on the chip
citizen identity card (CCCD) and used as the key of the National Population Database.

- ``PPP``: the province or city where the birth was registered (table below, the 63 provinces
  before the 2025 merger; numbers issued then stay valid). People registered abroad carry a
  country code instead; this scheme accepts only the domestic table.
- ``G``: century of birth and sex: 1900-1999 male 0 / female 1, 2000-2099 2 / 3,
  2100-2199 4 / 5, 2200-2299 6 / 7, 2300-2399 8 / 9.
- ``YY``: the last two digits of the birth year.
- ``NNNNNN``: a serial with no check digit, so nothing beyond structure and consistency with
  the holder's birth date and sex can be checked.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from idp.identifiers.base import IdentifierFacts, IdentifierScheme, InvalidIdentifier

PROVINCES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh",
    "024": "Bắc Giang", "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương",
    "031": "Hải Phòng", "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình",
    "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam",
    "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên", "056": "Khánh Hòa",
    "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum", "064": "Gia Lai", "066": "Đắk Lắk",
    "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương",
    "075": "Đồng Nai", "077": "Bà Rịa–Vũng Tàu", "079": "TP Hồ Chí Minh", "080": "Long An",
    "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang", "094": "Sóc Trăng",
    "095": "Bạc Liêu", "096": "Cà Mau",
}

#: First year of the century each pair of G digits stands for.
_CENTURIES = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 2300, 9: 2300}


def century_digit(year: int, gender: str) -> str:
    """The ``G`` digit for a birth year and sex (used to build numbers, e.g. in tests)."""
    base = (year - 1900) // 100 * 2
    if not 0 <= base <= 8:
        raise ValueError("the scheme covers births from 1900 to 2399")
    return str(base + (1 if gender == "female" else 0))


class VietnamPersonalNumber(IdentifierScheme):
    name: ClassVar[str] = "vn-pin"
    length: ClassVar[int] = 12
    calling_code: ClassVar[str] = "84"

    def validate(self, value: str) -> None:
        """Province code from the official table; the encoded birth year not in the future."""
        if value[:3] not in PROVINCES:
            raise InvalidIdentifier("province", "digits 1-3 are not a province or city code")
        if self.facts(value).birth_year > date.today().year:
            raise InvalidIdentifier("future", "digits 4-6 give a birth year in the future")

    def facts(self, value: str) -> IdentifierFacts:
        code = int(value[3])
        return IdentifierFacts(
            birth_year=_CENTURIES[code] + int(value[4:6]),
            gender="female" if code % 2 else "male",
            region_code=value[:3],
            region_name=PROVINCES.get(value[:3]),
        )

    def contradictions(self, value: str, *, birthdate: date | None = None,
                       gender: str | None = None) -> list[str]:
        """Digit 4 against the century of birth and the sex, digits 5-6 against the year."""
        facts = self.facts(value)
        problems = []
        if birthdate is not None:
            if facts.birth_year // 100 != birthdate.year // 100:
                problems.append("century")
            if facts.birth_year % 100 != birthdate.year % 100:
                problems.append("birth_year")
        if gender is not None and facts.gender != gender:
            problems.append("gender")
        return problems
