"""The interface every national identifier scheme implements.

A scheme knows how to read what people type (``normalise``), whether a number can exist
(``validate``), what the number itself says about its holder (``facts``) and which of its parts
disagree with a birth date or sex taken from elsewhere (``contradictions``). Nothing here
depends on Flask: the web layer turns the ``part`` of an :class:`InvalidIdentifier` into a
translated message.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

#: Separators people type inside numbers ("112-233-445 95", "001 085 000 001").
_SEPARATORS = re.compile(r"[\s.\-\u00a0\u2010-\u2015]+")
#: Longest input looked at: anything longer is refused before any other work.
MAX_INPUT_LENGTH = 40


class InvalidIdentifier(ValueError):
    """A number that cannot be this scheme's, or that contradicts the holder's data.

    ``part`` names what is wrong, so the message can say it: ``characters``, ``length``,
    ``province``, ``future``, ``century``, ``birth_year``, ``gender``, ``checksum``.
    """

    def __init__(self, part: str, detail: str = ""):
        super().__init__(f"{part}: {detail}" if detail else part)
        self.part = part
        self.detail = detail


@dataclass(frozen=True)
class IdentifierFacts:
    """What a number tells by itself (None where the scheme encodes nothing)."""

    birth_year: int | None = None
    gender: str | None = None
    region_code: str | None = None
    region_name: str | None = None


class IdentifierScheme(ABC):
    """One country's national identifier."""

    #: Stable name stored with every identifier (``national_identifiers.scheme``).
    name: ClassVar[str]
    #: How many digits the normal form has.
    length: ClassVar[int]
    #: Country calling code, used to read domestic phone numbers typed by citizens of it.
    calling_code: ClassVar[str]
    #: The digit a domestic phone number starts with instead of the calling code.
    trunk_prefix: ClassVar[str] = "0"
    #: Order of a full name's words: Vietnamese "Nguyễn Văn An" is family, middle, given;
    #: Russian "Иванов Иван Иванович" is family, given, patronymic (kept as middle name).
    name_order: ClassVar[tuple[str, ...]] = ("family", "middle", "given")

    def normalise(self, raw: str) -> str:
        """The normal form: ASCII digits only, separators dropped. Raises InvalidIdentifier."""
        if len(raw) > MAX_INPUT_LENGTH:
            raise InvalidIdentifier("length", f"longer than {MAX_INPUT_LENGTH} characters")
        compact = _SEPARATORS.sub("", raw)
        if not compact.isascii() or not compact.isdigit():
            raise InvalidIdentifier("characters", "only digits are allowed")
        if len(compact) != self.length:
            raise InvalidIdentifier("length", f"must have {self.length} digits")
        return compact

    def parse(self, raw: str) -> str:
        """Normalise then validate: the stored form of a number a person typed."""
        value = self.normalise(raw)
        self.validate(value)
        return value

    def is_valid(self, raw: str) -> bool:
        try:
            self.parse(raw)
        except InvalidIdentifier:
            return False
        return True

    @abstractmethod
    def validate(self, value: str) -> None:
        """Raise InvalidIdentifier if a normalised number cannot have been issued."""

    def facts(self, value: str) -> IdentifierFacts:  # most schemes encode nothing
        """What the number says about its holder."""
        return IdentifierFacts()

    def contradictions(self, value: str, *, birthdate: date | None = None,
                       gender: str | None = None) -> list[str]:
        """The parts of ``value`` that disagree with a birth date or sex known from elsewhere.

        Empty for schemes whose numbers encode neither.
        """
        facts = self.facts(value)
        problems = []
        if birthdate is not None and facts.birth_year is not None and facts.birth_year != birthdate.year:
            problems.append("birth_year")
        if gender is not None and facts.gender is not None and facts.gender != gender:
            problems.append("gender")
        return problems

    def display(self, value: str) -> str:
        """How the number is printed on documents."""
        return value

    def split_name(self, full_name: str) -> dict[str, str | None]:
        """Family, middle and given names from a registry full name, in this country's order."""
        words = full_name.split()
        parts: dict[str, str | None] = {"family": None, "middle": None, "given": None}
        if len(words) == 1:
            parts["given"] = words[0]
            return parts
        if self.name_order == ("family", "middle", "given"):
            parts["family"], parts["given"] = words[0], words[-1]
            parts["middle"] = " ".join(words[1:-1]) or None
        else:
            parts["family"], parts["given"] = words[0], words[1]
            parts["middle"] = " ".join(words[2:]) or None
        return parts
