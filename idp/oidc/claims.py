"""The citizen's claims by scope (OIDC Core §5.1 standard claims, §5.4 scope mapping), plus
this server's ``national_id`` and ``assurance`` scopes."""

from __future__ import annotations

from sqlalchemy import select

from idp.citizens.models import Citizen, NationalIdentifier, RegistryEntry
from idp.db import db
from idp.oidc.models import Client
from idp.oidc.subject import designated_by_subject, subject_lookup


def _registry(citizen) -> tuple[NationalIdentifier | None, RegistryEntry | None]:
    identifier = db.session.scalar(
        select(NationalIdentifier).where(NationalIdentifier.citizen_id == citizen.id)
        .order_by(NationalIdentifier.id).limit(1))
    if identifier is None:
        return None, None
    entry = db.session.scalar(select(RegistryEntry).where(
        RegistryEntry.scheme == identifier.scheme, RegistryEntry.identifier == identifier.value))
    return identifier, entry


#: What :func:`user_claims` reads of a citizen (``id`` for the registry's claims).
CLAIM_COLUMNS = ("id", "full_name", "family_name", "given_name", "middle_name", "birthdate", "gender",
                 "locale", "updated_at", "email", "email_verified", "phone", "phone_verified", "level")


def claims_source(connection, client: Client, sub: str):
    """The citizen ``sub`` designates for ``client`` (as :func:`~idp.oidc.subject.citizen_for_subject`),
    as one row of :data:`CLAIM_COLUMNS` read on ``connection``
    (:func:`idp.db.single_read.single_read_connection`), or None: what UserInfo makes its
    claims of, without loading the citizen through the ORM (which costs several times the read
    itself)."""
    return connection.execute(*subject_lookup(_CLAIMS_BY_SUBJECT, client, sub)).first()


_CLAIMS_BY_SUBJECT = designated_by_subject(*(Citizen.__table__.c[name] for name in CLAIM_COLUMNS))


def user_claims(citizen: Citizen, sub: str, scopes: list[str] | set[str]) -> dict:
    claims: dict = {"sub": sub}
    if "profile" in scopes:
        claims.update({
            "name": citizen.full_name,
            "family_name": citizen.family_name,
            "given_name": citizen.given_name,
            "middle_name": citizen.middle_name,
            "birthdate": citizen.birthdate.isoformat(),
            "gender": citizen.gender,
            "locale": citizen.locale,
            "updated_at": int(citizen.updated_at.timestamp()),
        })
    if "email" in scopes and citizen.email:
        claims.update({"email": citizen.email, "email_verified": citizen.email_verified})
    if "phone" in scopes and citizen.phone:
        claims.update({"phone_number": citizen.phone, "phone_number_verified": citizen.phone_verified})
    if "address" in scopes or "national_id" in scopes:
        identifier, entry = _registry(citizen)
        if "address" in scopes and entry is not None and entry.address:
            claims["address"] = {"formatted": entry.address}
        if "national_id" in scopes and identifier is not None:
            claims["national_id"] = identifier.value
            claims["national_id_scheme"] = identifier.scheme
            if entry is not None and entry.document_number:
                claims["identity_document"] = {"number": entry.document_number}
    if "assurance" in scopes:
        claims["assurance_level"] = citizen.level
    return {k: v for k, v in claims.items() if v is not None}
