"""Parents and guardians (``idp relations import FILE.csv``): who may act for which child.

Columns ``parent_identifier,child_identifier,kind`` (``kind``: ``parent`` or ``guardian``),
optionally ``scheme`` (default ``IDP_IDENTIFIER_SCHEME``). Both people must be in the
population registry, the child under 18 and the parent of age on the day of the import. The
file replaces nothing: a known pair is updated (its kind), others are added; all rows or none.

A child is represented only while under 18: every use of the relation checks the birth date
again (:mod:`idp.orgs.context`), so a child's 18th birthday ends it without any import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from idp.citizens.messages import identifier_message
from idp.citizens.models import Citizen, NationalIdentifier, RegistryEntry
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import SCHEMES, InvalidIdentifier
from idp.orgs.age import majority_cutoff
from idp.orgs.models import Relation
from idp.orgs.registry import read_csv

REQUIRED_COLUMNS = ("parent_identifier", "child_identifier", "kind")
OPTIONAL_COLUMNS = ("scheme",)
KINDS = ("parent", "guardian")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _person(scheme, raw: str, column: str) -> RegistryEntry:
    try:
        value = scheme.parse(raw or "")
    except InvalidIdentifier as exc:
        raise ValueError(f"{column}: {identifier_message(exc.part)}") from None
    entry = db.session.scalar(select(RegistryEntry).where(
        RegistryEntry.scheme == scheme.name, RegistryEntry.identifier == value))
    if entry is None:
        raise ValueError(f"{column} is not in the population registry")
    return entry


def _parse_row(row: dict[str, str], default_scheme: str) -> dict:
    scheme_name = (row.get("scheme") or "").strip() or default_scheme
    scheme = SCHEMES.get(scheme_name)
    if scheme is None:
        raise ValueError(f"unknown scheme {scheme_name!r} (known: {' '.join(sorted(SCHEMES))})")
    kind = (row.get("kind") or "").strip().lower()
    if kind not in KINDS:
        raise ValueError("kind must be parent or guardian")
    parent = _person(scheme, row.get("parent_identifier"), "parent_identifier")
    child = _person(scheme, row.get("child_identifier"), "child_identifier")
    if parent.id == child.id:
        raise ValueError("a person cannot represent themselves")
    cutoff = majority_cutoff()
    if child.birthdate <= cutoff:
        raise ValueError("the child is 18 or older by the registry's birth date")
    if parent.birthdate > cutoff:
        raise ValueError("the parent or guardian is under 18")
    return {"parent_scheme": scheme.name, "parent_identifier": parent.identifier,
            "child_scheme": scheme.name, "child_identifier": child.identifier, "kind": kind}


def _existing(values: dict) -> Relation | None:
    return db.session.scalar(select(Relation).where(
        Relation.parent_scheme == values["parent_scheme"],
        Relation.parent_identifier == values["parent_identifier"],
        Relation.child_scheme == values["child_scheme"],
        Relation.child_identifier == values["child_identifier"]))


def import_csv(text: Iterable[str], default_scheme: str) -> ImportResult:
    """Check every row, then write all or none (the caller commits)."""
    reader, error = read_csv(text, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    if error:
        return ImportResult(errors=[error])
    result = ImportResult()
    parsed, seen = [], set()
    for line, row in enumerate(reader, start=2):
        try:
            values = _parse_row(row, default_scheme)
        except ValueError as exc:
            result.errors.append(f"line {line}: {exc}")
            continue
        key = (values["parent_identifier"], values["child_identifier"])
        if key in seen:
            result.errors.append(f"line {line}: the pair appears twice in the file")
            continue
        seen.add(key)
        parsed.append(values)
    if result.errors:
        return result
    for values in parsed:
        relation = _existing(values)
        if relation is None:
            db.session.add(Relation(**values))
            result.created += 1
        else:
            relation.kind = values["kind"]
            relation.imported_at = utcnow()
            result.updated += 1
    db.session.flush()
    return result


@dataclass(frozen=True)
class Child:
    """A minor the citizen may act for. ``citizen_id`` is None while the child has no account
    (they cannot be represented at a service until they have one: a subject needs an account)."""

    full_name: str
    birthdate: object
    kind: str
    citizen_id: int | None


def children_of(citizen_id: int) -> list[Child]:
    """The minors a citizen is parent or guardian of today, by name."""
    parent = db.session.execute(
        select(NationalIdentifier.scheme, NationalIdentifier.value)
        .where(NationalIdentifier.citizen_id == citizen_id)).all()
    if not parent:
        return []
    child_id = NationalIdentifier.__table__.alias("child_id")
    rows = db.session.execute(
        select(RegistryEntry.full_name, RegistryEntry.birthdate, Relation.kind, child_id.c.citizen_id)
        .join(RegistryEntry, (RegistryEntry.scheme == Relation.child_scheme)
              & (RegistryEntry.identifier == Relation.child_identifier))
        .outerjoin(child_id, (child_id.c.scheme == Relation.child_scheme)
                   & (child_id.c.value == Relation.child_identifier))
        .where(Relation.parent_scheme == parent[0].scheme,
               Relation.parent_identifier == parent[0].value,
               RegistryEntry.birthdate > majority_cutoff())
        .order_by(RegistryEntry.full_name)).all()
    return [Child(r.full_name, r.birthdate, r.kind, r.citizen_id) for r in rows]


def represents(parent_id: int, child_id: int) -> str | None:
    """The kind of relation (``parent``/``guardian``) by which the citizen ``parent_id`` may act
    for the citizen ``child_id`` today, or None."""
    child = db.session.get(Citizen, child_id)
    if child is None or child.birthdate <= majority_cutoff():
        return None
    return next((c.kind for c in children_of(parent_id) if c.citizen_id == child_id), None)
