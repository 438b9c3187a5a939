"""Subject identifiers (OIDC Core §8): pairwise by default, public only where registered so.

Pairwise (§8.1): ``sub = BASE64URL(SHA-256(sector || citizen uid || salt))``. The sector is the
client's stored sector identifier, fixed at registration by :mod:`idp.oidc.clients.sector` (the host of
its ``sector_identifier_uri`` or of its redirect URIs; the host of the first redirect URI for a
client that somehow has none stored), so two clients
of one sector (one agency's several services) see the same ``sub`` and clients of different
sectors cannot link a citizen. The salt is derived from ``IDP_SECRET_KEY``, which must therefore
stay the same for the life of the deployment.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import bindparam, exists, or_, select

from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.grantee import CitizenRef
from idp.oidc.models import Client, SubjectIdentifier


def _salt() -> bytes:
    salt = current_app.extensions.get("idp.pairwise_salt")
    if salt is None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"idp-pairwise",
                    info=b"idp pairwise subject v1")
        salt = hkdf.derive(current_app.config["SECRET_KEY"].encode())
        current_app.extensions["idp.pairwise_salt"] = salt
    return salt


def sector_of(client: Client) -> str:
    if client.sector_identifier:
        return client.sector_identifier
    if client.redirect_uris:
        return urlsplit(client.redirect_uris[0]).hostname or client.client_id
    return client.client_id


def subject_for(citizen: Citizen | CitizenRef, client: Client) -> str:
    """The ``sub`` this client knows the citizen by."""
    if client.subject_type == "public":
        return citizen.uid
    digest = hashlib.sha256(sector_of(client).encode() + b"|" + citizen.uid.encode() + _salt()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def remember_subject(citizen: Citizen | CitizenRef, client: Client) -> str:
    """Compute the citizen's ``sub`` for the client and record it if pairwise (caller commits).

    A pairwise identifier once recorded stays recorded: the row goes only with its account
    (``ON DELETE CASCADE``), and the account's ``uid`` (a random UUID) dies with it, so the same
    ``sub`` is never computed again. The pairs this process has read as recorded are therefore
    remembered (:func:`_known_recorded`) and not read again at every authorization."""
    sub = subject_for(citizen, client)
    if client.subject_type != "public":
        sector = sector_of(client)
        known = _known_recorded()
        if (sector, sub) not in known:
            if db.session.scalar(_RECORDED, {"sector": sector, "sub": sub}) is None:
                # Remembered once a later read finds it committed, not now: this transaction
                # may still roll back.
                db.session.add(SubjectIdentifier(sector=sector, sub=sub, citizen_id=citizen.id))
            else:
                if len(known) >= _KNOWN_MAX:
                    known.clear()
                known.add((sector, sub))
    return sub


#: Recorded pairs remembered per process, at most (about 10 MB); then forgotten all at once.
_KNOWN_MAX = 50_000


def _known_recorded() -> set[tuple[str, str]]:
    """The (sector, sub) pairs this app has read as recorded."""
    return current_app.extensions.setdefault("idp.recorded_subjects", set())


#: Built once: every authorization code for a pairwise client asks.
_RECORDED = select(SubjectIdentifier.id).where(
    SubjectIdentifier.sector == bindparam("sector"), SubjectIdentifier.sub == bindparam("sub"))


def designated_by_subject(*columns) -> tuple:
    """Statements selecting ``columns`` of the citizen a ``sub`` designates: (for a public
    subject, the account's ``uid``; for a pairwise one, the identifier recorded for the
    client's sector), with bound parameters, built once by each caller; run them with
    :func:`subject_lookup`."""
    return (select(*columns).where(_CITIZENS_TABLE.c.uid == bindparam("sub")),
            select(*columns)
            .join(_SUBJECTS_TABLE, _SUBJECTS_TABLE.c.citizen_id == _CITIZENS_TABLE.c.id)
            .where(_SUBJECTS_TABLE.c.sector == bindparam("sector"),
                   _SUBJECTS_TABLE.c.sub == bindparam("sub")))


def subject_lookup(statements: tuple, client: Client, sub: str) -> tuple:
    """The statement of :func:`designated_by_subject`'s pair for ``client``'s subject type,
    and its parameters."""
    by_uid, by_pairwise = statements
    if client.subject_type == "public":
        return by_uid, {"sub": sub}
    return by_pairwise, {"sector": sector_of(client), "sub": sub}


def citizen_for_subject(client: Client, sub: str) -> Citizen | None:
    return db.session.scalar(*subject_lookup(_CITIZEN_BY_SUBJECT, client, sub))


def locked_subject(sub, now):
    """SQL: some account that ``sub`` designates is locked now (an administrator's lock).

    Any subject the token may carry: the account's uid (public subject type) or a pairwise
    identifier of any sector (:class:`~idp.oidc.models.SubjectIdentifier`), so the tokens of
    every client and of token exchange (``sub`` as the audience knows the citizen) are covered
    without working out the sector first. Pairwise values are SHA-256 digests: two accounts
    never share one, so no other account's lock is read by mistake. A client's own token
    (client_credentials: ``sub`` is the client id) names no account."""
    # Two EXISTS, each answered from an index (citizens.uid, subject_identifiers.sub), rather
    # than one with an OR the planner could only answer by reading every account.
    return or_(
        exists().where(_CITIZENS_TABLE.c.uid == sub, _CITIZENS_TABLE.c.locked_until > now),
        exists().where(_SUBJECTS_TABLE.c.sub == sub, _CITIZENS_TABLE.c.id == _SUBJECTS_TABLE.c.citizen_id,
                       _CITIZENS_TABLE.c.locked_until > now))


_CITIZENS_TABLE = Citizen.__table__
_SUBJECTS_TABLE = SubjectIdentifier.__table__
_CITIZEN_BY_SUBJECT = designated_by_subject(Citizen)
