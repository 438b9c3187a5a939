"""The acting context in tokens: who the citizen acts for (:mod:`idp.orgs.context`).

- For an organisation: ``org`` = ``{"id", "scheme", "name", "roles"}``; the citizen stays the
  ``sub``.
- For a person (a child, by a parent or guardian): the represented person is the ``sub``
  (pairwise per client like every subject, OIDC Core §8) and the acting citizen is in ``act``
  (RFC 8693 §4.1: "the acting party to whom authority has been delegated"), as the client knows
  them, with the relation: ``act`` = ``{"sub": <parent>, "relation": "parent"|"guardian"}``.
  A token exchange wraps it in the caller's own ``act`` (§4.1 delegation chain).

The same claims go into the ID token, the access token and UserInfo. Whether the context still
holds is read from the database at every use of an access token (:func:`still_holds`, next to
the revocation and account-lock check of :mod:`idp.oidc.tokens.access`) and of a refresh token
or code (:func:`idp.orgs.context.resolve`): one indexed query, run only for tokens that carry a
context.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, union

from idp.audit.log import record
from idp.citizens.models import Citizen, NationalIdentifier
from idp.db import db
from idp.oidc.grantee import CitizenRef, citizen_ref
from idp.oidc.models import Client, SubjectIdentifier
from idp.oidc.subject import citizen_for_subject, remember_subject, subject_for
from idp.orgs import members
from idp.orgs.age import majority_cutoff
from idp.orgs.context import Acting
from idp.orgs.models import Membership, Organisation, Relation

#: Claims that carry a context; a token with neither is checked no further.
CONTEXT_CLAIMS = ("org", "act")


def subject_of(citizen: CitizenRef, acting: Acting | None, client: Client, *, remember: bool = False) -> str:
    """The token's ``sub``: the represented person's for a person context, else the citizen's."""
    who = citizen_ref(acting.child_id) if acting is not None and acting.kind == "person" else citizen
    return remember_subject(who, client) if remember else subject_for(who, client)


def claims_for(citizen: CitizenRef, acting: Acting | None, client: Client, *, remember: bool = False) -> dict:
    """The context claims of a token issued to ``client``."""
    if acting is None:
        return {}
    if acting.kind == "org":
        return {"org": acting.org_claim()}
    actor = remember_subject(citizen, client) if remember else subject_for(citizen, client)
    return {"act": {"sub": actor, "relation": acting.relation}}


def representation_act(act) -> dict | None:
    """The ``act`` object naming the acting citizen of a person context, however deep in a
    delegation chain (RFC 8693 §4.1), or None."""
    while isinstance(act, dict):
        if "relation" in act:
            return act
        act = act.get("act")
    return None


def rebase_act(act, source: Client, target: Client):
    """``act`` of a token exchanged from ``source`` to ``target``: the acting citizen named as
    ``target`` knows them (pairwise), so no client learns another's identifier."""
    if not isinstance(act, dict):
        return act
    if "relation" in act:
        citizen = citizen_for_subject(source, act["sub"])
        if citizen is None:
            return act
        return {"sub": remember_subject(citizen, target), "relation": act["relation"]}
    out = dict(act)
    if "act" in act:
        out["act"] = rebase_act(act["act"], source, target)
    return out


_CITIZENS = Citizen.__table__
_SUBJECTS = SubjectIdentifier.__table__


def _designated(name: str):
    """SQL: the citizen ids a ``sub`` value designates (a uid, or a pairwise subject of any
    sector: two indexed reads, as :func:`idp.oidc.subject.locked_subject`)."""
    return union(select(_CITIZENS.c.id).where(_CITIZENS.c.uid == bindparam(name)),
                 select(_SUBJECTS.c.citizen_id).where(_SUBJECTS.c.sub == bindparam(name)))


_MEMBERS = Membership.__table__
_ORGS = Organisation.__table__
_ORG_ROLES = (select(_MEMBERS.c.roles)
              .join(_ORGS, _ORGS.c.id == _MEMBERS.c.organisation_id)
              .where(_ORGS.c.scheme == bindparam("scheme"), _ORGS.c.identifier == bindparam("identifier"),
                     _ORGS.c.activated_at.is_not(None), _ORGS.c.status == "active",
                     _MEMBERS.c.citizen_id.in_(_designated("sub"))))

_RELATIONS = Relation.__table__
_PARENT_ID = NationalIdentifier.__table__.alias("parent_id")
_CHILD_ID = NationalIdentifier.__table__.alias("child_id")
_CHILD = Citizen.__table__.alias("child")
_RELATION_HOLDS = (select(_RELATIONS.c.kind)
                   .join(_PARENT_ID, (_PARENT_ID.c.scheme == _RELATIONS.c.parent_scheme)
                         & (_PARENT_ID.c.value == _RELATIONS.c.parent_identifier))
                   .join(_CHILD_ID, (_CHILD_ID.c.scheme == _RELATIONS.c.child_scheme)
                         & (_CHILD_ID.c.value == _RELATIONS.c.child_identifier))
                   .join(_CHILD, _CHILD.c.id == _CHILD_ID.c.citizen_id)
                   .where(_CHILD.c.birthdate > bindparam("cutoff"),
                          _PARENT_ID.c.citizen_id.in_(_designated("actor")),
                          _CHILD_ID.c.citizen_id.in_(_designated("sub"))))


def still_holds(claims) -> bool:
    """Whether the context an access token carries still holds: the citizen is still a member of
    the organisation with exactly the roles the token names, or still the parent or guardian of
    a child who is still under 18. True for a token without a context (no query)."""
    org = claims.get("org")
    relation_act = representation_act(claims.get("act"))
    if org is None and relation_act is None:
        return True
    connection = db.session.connection()
    if org is not None:
        if not isinstance(org, dict):
            return False
        roles = connection.execute(_ORG_ROLES, {"scheme": org.get("scheme"), "identifier": org.get("id"),
                                                "sub": claims["sub"]}).scalar()
        if roles is None or sorted(roles) != sorted(org.get("roles") or []):
            return False
    if relation_act is not None:
        kind = connection.execute(_RELATION_HOLDS, {"cutoff": majority_cutoff(),
                                                    "actor": relation_act.get("sub"),
                                                    "sub": claims["sub"]}).scalar()
        if kind is None or kind != relation_act.get("relation"):
            return False
    return True


def record_acting(acting: Acting, citizen_id: int, client: Client) -> None:
    """A sign-in to ``client`` for someone else, where they see it: the organisation's
    administrators (its events), the represented person (their sign-in history); and the audit
    log. In the caller's transaction."""
    if acting.kind == "org":
        members.record_sign_in(acting.organisation, citizen_id, client.name)
        record("signin.for_organisation", actor="citizen", citizen_id=citizen_id, client_id=client.client_id,
               details={"organisation": f"{acting.organisation.scheme}:{acting.organisation.identifier}",
                        "roles": list(acting.roles)})
    else:
        record("signin.on_behalf", actor="citizen", citizen_id=acting.child_id, client_id=client.client_id,
               details={"by_citizen": citizen_id, "relation": acting.relation})
