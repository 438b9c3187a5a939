"""The citizen's claims by scope (OIDC Core §5.1 standard claims, §5.4 scope mapping), plus
this server's ``national_id`` and ``assurance`` scopes."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from idp.citizens.models import Citizen, NationalIdentifier, RegistryEntry
from idp.db import db
from idp.oidc.models import Client, SubjectIdentifier
from idp.oidc.subject import sector_of


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
    """The citizen ``sub`` designates for ``client``, as one row of :data:`CLAIM_COLUMNS` read
    on ``connection`` (:func:`idp.db.single_read.single_read_connection`), or None: what
    UserInfo makes its claims of, without loading the citizen through the ORM (which costs
    several times the read itself). As :func:`idp.oidc.subject.citizen_for_subject`: the
    ``uid`` for a public subject, the recorded pairwise identifier of the client's sector else."""
    if client.subject_type == "public":
        return connection.execute(_BY_UID, {"sub": sub}).first()
    return connection.execute(_BY_PAIRWISE, {"sector": sector_of(client), "sub": sub}).first()


_CLAIMED = [Citizen.__table__.c[name] for name in CLAIM_COLUMNS]
_BY_UID = select(*_CLAIMED).where(Citizen.__table__.c.uid == bindparam("sub"))
_BY_PAIRWISE = (select(*_CLAIMED)
                .join(SubjectIdentifier.__table__,
                      SubjectIdentifier.__table__.c.citizen_id == Citizen.__table__.c.id)
                .where(SubjectIdentifier.__table__.c.sector == bindparam("sector"),
                       SubjectIdentifier.__table__.c.sub == bindparam("sub")))


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
