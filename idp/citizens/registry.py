"""The population registry: the national population database as far as this server knows it.

``idp registry import FILE.csv`` loads it; registration is accepted only for a person found
here with the same number, full name and birth date. Names are compared after Unicode NFC
normalisation, case folding and whitespace collapsing, so "NGUYỄN  văn an" typed on any
keyboard matches "Nguyễn Văn An".
"""

from __future__ import annotations

import csv
import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.messages import identifier_message
from idp.citizens.models import RegistryEntry
from idp.db import db
from idp.db.types import nfc, utcnow
from idp.identifiers import SCHEMES, InvalidIdentifier, get_scheme

#: Columns of the import file; ``scheme`` may be left out (then the configured scheme).
REQUIRED_COLUMNS = ("identifier", "full_name", "birthdate", "gender")
OPTIONAL_COLUMNS = ("scheme", "place_of_birth", "address", "document_number", "email", "phone")
_GENDERS = {"male": "male", "female": "female", "m": "male", "f": "female",
            "nam": "male", "nữ": "female", "nu": "female"}
_LIMITS = {"full_name": 200, "place_of_birth": 200, "address": 500, "document_number": 32}


def fold_name(name: str) -> str:
    """A name in the form used for comparison (NFC, case-folded, single spaces)."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def same_name(typed: str, registered: str) -> bool:
    return hmac.compare_digest(fold_name(typed).encode(), fold_name(registered).encode())


def lookup(scheme: str, identifier: str) -> RegistryEntry | None:
    return db.session.scalar(select(RegistryEntry).where(
        RegistryEntry.scheme == scheme, RegistryEntry.identifier == identifier))


def match(scheme: str, identifier: str, full_name: str, birthdate: date) -> RegistryEntry | None:
    """The entry when number, name and birth date all agree; None otherwise (whichever differs).

    The name comparison runs even when the number is unknown, so the answer's timing does not
    say whether the number exists.
    """
    entry = lookup(scheme, identifier)
    name_matches = same_name(full_name, entry.full_name if entry else "\x00")
    if entry is None or not name_matches or entry.birthdate != birthdate:
        return None
    return entry


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _parse_row(row: dict[str, str], default_scheme: str) -> dict:
    """One CSV row as entry fields; ValueError with a readable reason."""
    scheme_name = (row.get("scheme") or "").strip() or default_scheme
    if scheme_name not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme_name!r} (known: {' '.join(sorted(SCHEMES))})")
    scheme = get_scheme(scheme_name)
    try:
        birthdate = date.fromisoformat((row.get("birthdate") or "").strip())
    except ValueError:
        raise ValueError("birthdate must be a date written YYYY-MM-DD") from None
    if birthdate > date.today():
        raise ValueError("birthdate is in the future")
    gender = _GENDERS.get(nfc((row.get("gender") or "").strip()).casefold())
    if gender is None:
        raise ValueError("gender must be male or female")
    try:
        identifier = scheme.parse(row.get("identifier") or "")
    except InvalidIdentifier as exc:
        raise ValueError(identifier_message(exc.part)) from None
    problems = scheme.contradictions(identifier, birthdate=birthdate, gender=gender)
    if problems:
        raise ValueError(" ".join(identifier_message(part) for part in problems))
    values = {"scheme": scheme_name, "identifier": identifier, "birthdate": birthdate, "gender": gender}
    for name, limit in _LIMITS.items():
        text = " ".join(nfc(row.get(name) or "").split())
        if len(text) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError(f"{name} contains control characters")
        values[name] = text or None
    if not values["full_name"]:
        raise ValueError("full_name is empty")
    # The population database's contacts count as verified: they must be well formed.
    email_raw, phone_raw = (row.get("email") or "").strip(), (row.get("phone") or "").strip()
    values["email"] = normalise_email(email_raw) if email_raw else None
    if email_raw and values["email"] is None:
        raise ValueError("email is not an email address")
    values["phone"] = normalise_phone(phone_raw, scheme) if phone_raw else None
    if phone_raw and values["phone"] is None:
        raise ValueError("phone is not a phone number (E.164 such as +84912345678, or 0912345678)")
    return values


def import_rows(rows: Iterable[dict[str, str]], default_scheme: str) -> ImportResult:
    """Check every row, then write all of them or none (the caller commits).

    An existing entry (same scheme and number) is updated: the registry is the source of truth.
    """
    return import_all_or_none(rows, lambda row: _parse_row(row, default_scheme), RegistryEntry,
                              lambda values: lookup(values["scheme"], values["identifier"]),
                              "the number appears twice in the file")


def import_all_or_none(rows: Iterable[dict[str, str]], parse, model, find, duplicate: str) -> ImportResult:
    """Check every row with ``parse`` (ValueError with a reason), then write all of them or none
    (the caller commits): a row whose ``(scheme, identifier)`` exists (``find``) updates it, the
    registry being the source of truth; a new one adds a ``model``. Shared by the population
    and organisation registries."""
    result = ImportResult()
    parsed: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(rows, start=2):
        try:
            values = parse(row)
        except ValueError as exc:
            result.errors.append(f"line {line}: {exc}")
            continue
        key = (values["scheme"], values["identifier"])
        if key in seen:
            result.errors.append(f"line {line}: {duplicate}")
            continue
        seen.add(key)
        parsed.append(values)
    if result.errors:
        return result
    for values in parsed:
        existing = find(values)
        if existing is None:
            db.session.add(model(**values))
            result.created += 1
        else:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.imported_at = utcnow()
            result.updated += 1
    db.session.flush()
    return result


def import_csv(text: Iterable[str], default_scheme: str) -> ImportResult:
    """Import a UTF-8 CSV (header row first; a BOM is ignored)."""
    reader = csv.DictReader(text)
    columns = [(name or "").strip().lstrip("\ufeff") for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if unknown:
            problems.append("unknown columns: " + ", ".join(unknown))
        return ImportResult(errors=["line 1: " + "; ".join(problems)])
    reader.fieldnames = columns
    return import_rows(reader, default_scheme)
