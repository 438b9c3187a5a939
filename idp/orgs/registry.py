"""The organisation registry: legal entities as the business registers know them
(``idp orgs import FILE.csv``), the counterpart of the population registry.

Columns: ``identifier,scheme,name,legal_representative,address,registered_on[,status]``.
``legal_representative`` is the personal identifier of someone in the population registry, in
the personal scheme of the organisation's country (``vn-pin`` for ``vn-tax-code``,
``ru-snils`` for ``ru-ogrn``), of age. All rows are checked first; then all are written or
none. An organisation already known is updated: the registry is the source of truth.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select

from idp import clock
from idp.citizens.messages import identifier_message
from idp.citizens.models import RegistryEntry
from idp.citizens.registry import ImportResult, import_all_or_none
from idp.db import db
from idp.db.types import nfc
from idp.identifiers import ORGANISATION_SCHEMES, SCHEMES, InvalidIdentifier
from idp.orgs.age import is_minor
from idp.orgs.models import Organisation

REQUIRED_COLUMNS = ("identifier", "scheme", "name", "legal_representative", "address", "registered_on")
OPTIONAL_COLUMNS = ("status",)
STATUSES = ("active", "dissolved")
#: The personal scheme of each organisation scheme's country.
REPRESENTATIVE_SCHEME = {"vn-tax-code": "vn-pin", "ru-ogrn": "ru-snils"}
_LIMITS = {"name": 300, "address": 500}


def lookup(scheme: str, identifier: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(
        Organisation.scheme == scheme, Organisation.identifier == identifier))


def find(text: str) -> Organisation | None:
    """The organisation a command names: its number in any organisation scheme."""
    for scheme in ORGANISATION_SCHEMES.values():
        try:
            value = scheme.parse(text)
        except InvalidIdentifier:
            continue
        found = lookup(scheme.name, value)
        if found is not None:
            return found
    return None


def _text(row: dict[str, str], name: str) -> str | None:
    text = " ".join(nfc(row.get(name) or "").split())
    if len(text) > _LIMITS[name]:
        raise ValueError(f"{name} is longer than {_LIMITS[name]} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"{name} contains control characters")
    return text or None


def _parse_row(row: dict[str, str]) -> dict:
    scheme_name = (row.get("scheme") or "").strip()
    scheme = ORGANISATION_SCHEMES.get(scheme_name)
    if scheme is None:
        raise ValueError(f"unknown scheme {scheme_name!r} (known: {' '.join(sorted(ORGANISATION_SCHEMES))})")
    try:
        identifier = scheme.parse(row.get("identifier") or "")
    except InvalidIdentifier as exc:
        raise ValueError(f"identifier: {identifier_message(exc.part)}") from None
    person_scheme = SCHEMES[REPRESENTATIVE_SCHEME[scheme_name]]
    try:
        representative = person_scheme.parse(row.get("legal_representative") or "")
    except InvalidIdentifier as exc:
        raise ValueError(f"legal_representative: {identifier_message(exc.part)}") from None
    person = db.session.scalar(select(RegistryEntry).where(
        RegistryEntry.scheme == person_scheme.name, RegistryEntry.identifier == representative))
    if person is None:
        raise ValueError("legal_representative is not in the population registry")
    if is_minor(person.birthdate):
        raise ValueError("legal_representative is under 18")
    try:
        registered_on = date.fromisoformat((row.get("registered_on") or "").strip())
    except ValueError:
        raise ValueError("registered_on must be a date written YYYY-MM-DD") from None
    if registered_on > clock.now().date():
        raise ValueError("registered_on is in the future")
    status = (row.get("status") or "").strip().lower() or "active"
    if status not in STATUSES:
        raise ValueError(f"status must be one of: {', '.join(STATUSES)}")
    name = _text(row, "name")
    if not name:
        raise ValueError("name is empty")
    return {"scheme": scheme_name, "identifier": identifier, "name": name,
            "representative_scheme": person_scheme.name, "representative": representative,
            "address": _text(row, "address"), "registered_on": registered_on, "status": status}


def import_rows(rows: Iterable[dict[str, str]]) -> ImportResult:
    """Check every row, then write all of them or none (the caller commits)."""
    return import_all_or_none(rows, _parse_row, Organisation,
                              lambda values: lookup(values["scheme"], values["identifier"]),
                              "the organisation appears twice in the file")


def read_csv(text: Iterable[str], required: tuple[str, ...], optional: tuple[str, ...]):
    """A DictReader over a UTF-8 CSV, or the error of its header line."""
    reader = csv.DictReader(text)
    columns = [(name or "").strip().lstrip("\ufeff") for name in (reader.fieldnames or [])]
    missing = [name for name in required if name not in columns]
    unknown = [name for name in columns if name not in required + optional]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if unknown:
            problems.append("unknown columns: " + ", ".join(unknown))
        return None, "line 1: " + "; ".join(problems)
    reader.fieldnames = columns
    return reader, None


def import_csv(text: Iterable[str]) -> ImportResult:
    reader, error = read_csv(text, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    if error:
        return ImportResult(errors=[error])
    return import_rows(reader)
