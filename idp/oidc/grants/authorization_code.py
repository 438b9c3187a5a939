"""The authorization code grant (RFC 6749 §4.1; OIDC Core §3.1.3) on Authlib's grant.

Codes are 256-bit random values stored as SHA-256 digests, valid ``IDP_AUTHORIZATION_CODE_TTL``
seconds (60 by default) and single-use: a code is claimed atomically with what it yields
(:mod:`idp.oidc.tokens.issued`), and a code presented again makes the server revoke what was
issued from it (RFC 6749 §4.1.2). Its only write being that claim, on PostgreSQL the
redemption runs without a transaction of its own (:mod:`idp.db.autocommit`), from the
client's authentication on. A redemption that will succeed, by a client with a secret, is
answered before Flask by :mod:`idp.fastpath.authorization_code`, which reads the code with
:func:`read_code` too.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from flask import current_app
from sqlalchemy import bindparam, select

from idp.auth.models import SsoSession
from idp.citizens.models import Citizen
from idp.db import autocommit, db
from idp.db.autocommit import statements_commit_alone
from idp.db.loaded import loaded
from idp.db.together import Write
from idp.db.types import utcnow
from idp.oidc.authorization import claims_parameter
from idp.oidc.clients import fapi2
from idp.oidc.grantee import CitizenRef, Grantee, active_ref
from idp.oidc.models import AuthorizationCode
from idp.oidc.tokens import dpop
from idp.oidc.tokens.acting import claims_for, subject_of
from idp.oidc.tokens.issued import revoke_issued_from
from idp.orgs.context import Acting, resolve

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def grantee_for(citizen: Citizen | CitizenRef, client, *, session_id, sid, auth_time, acr, amr,
                acting: Acting | None = None) -> Grantee:
    return Grantee(citizen=citizen, sub=subject_of(citizen, acting, client), auth_time=auth_time,
                   acr=acr, amr=list(amr or []), session_id=session_id, sid=sid, acting=acting,
                   context=claims_for(citizen, acting, client))


# Built once, with bound parameters: every code redemption runs them. The code is read with
# what the grant needs of its citizen (uid, lock) and of its session (``sid``) in one query.
#: The code's own columns (its row becomes the session's AuthorizationCode, as the ORM would
#: load it: idp.db.loaded) and, joined, what authenticate_user needs of its citizen and session.
_CODE_COLUMNS = tuple(column.key for column in AuthorizationCode.__table__.columns)
_CODE = (select(AuthorizationCode.__table__, Citizen.uid, Citizen.locked_until, SsoSession.sid)
         .outerjoin(Citizen, Citizen.id == AuthorizationCode.citizen_id)
         .outerjoin(SsoSession, SsoSession.id == AuthorizationCode.session_id)
         .where(AuthorizationCode.code_digest == bindparam("digest")))
_INSERT_CODE = AuthorizationCode.__table__.insert()
#: Longer values are not codes of ours (they are 43 characters).
_MAX_CODE = 200


def read_code(code: str | None):
    """``(found, row)`` for a stored code, else None: ``row`` the session's
    :class:`AuthorizationCode` (as the ORM would load it, :mod:`idp.db.loaded`), ``found`` the
    query's row, which also carries its citizen's ``uid`` and ``locked_until`` and its session's
    ``sid``. One query; no check of who presents it (the callers' rules)."""
    if not code or len(code) > _MAX_CODE:
        return None
    found = autocommit.read(_CODE, {"digest": code_digest(code)}).first()
    if found is None:
        return None
    return found, loaded(AuthorizationCode, {name: getattr(found, name) for name in _CODE_COLUMNS})


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code, request):
        """Store the code's digest with everything the token endpoint will need."""
        db.session.execute(*self.storing(code, request))

    def storing(self, code, request) -> Write:
        """The INSERT that stores the code and its parameters, for the caller to send with its
        other writes (:func:`idp.db.together.write_together`). A Core INSERT: nothing reads the
        row back in this request, and every authorization writes one."""
        ttl = fapi2.code_lifetime(request.client, current_app.config["IDP"].authorization_code_ttl)
        grantee: Grantee = request.user
        data = request.payload.data
        now = utcnow()
        return _INSERT_CODE, {
            "code_digest": code_digest(code),
            "client_pk": request.client.id,
            "citizen_id": grantee.citizen.id,
            "session_id": grantee.session_id,
            "redirect_uri": data["redirect_uri"],
            "scope": request.scope,
            "nonce": data.get("nonce") or None,
            "claims": claims_parameter.parse(data.get("claims")),
            "dpop_jkt": data.get("dpop_jkt") or None,
            "code_challenge": data.get("code_challenge") or None,
            "code_challenge_method": (data.get("code_challenge_method") or "S256")
            if data.get("code_challenge") else None,
            "auth_time": grantee.auth_time,
            "acr": grantee.acr,
            "amr": list(grantee.amr),
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl),
            "acting": grantee.acting.ref if grantee.acting is not None else None,
        }

    def validate_token_request(self):
        statements_commit_alone()  # before the client's authentication reads anything
        super().validate_token_request()

    def query_authorization_code(self, code, client):
        """Find the code (it is claimed when the tokens it yields are stored). RFC 6749 §4.1.2:
        on a second use, deny the request and revoke the tokens issued from the first
        (committed now, whatever follows)."""
        read = read_code(code)
        if read is None or read[1].client_pk != client.id:
            return None
        found, row = read
        # For authenticate_user: the citizen (None if gone or locked) and the session's sid.
        self._citizen = active_ref(row.citizen_id, found.uid, found.locked_until)
        self._sid = found.sid
        if not dpop.code_key_matches(row):
            return None  # RFC 9449 §10: not the key the code is bound to (the code stays usable)
        if row.used_at is not None:
            revoke_issued_from(row.id, client)
            raise InvalidGrantError("The authorization code was already used.")
        if row.expires_at <= utcnow():
            raise InvalidGrantError("The authorization code has expired.")
        return row

    def delete_authorization_code(self, authorization_code):
        """Claimed when the tokens were stored; the row stays so a reuse is seen."""

    def authenticate_user(self, authorization_code: AuthorizationCode):
        """The grantee; None (``invalid_grant``) when the account is gone or was locked since
        the code was issued, or the citizen no longer holds the context they chose."""
        citizen = self._citizen  # read with the code by query_authorization_code
        if citizen is None:
            return None
        acting = resolve(authorization_code.acting, citizen.id)
        if authorization_code.acting and acting is None:
            return None
        return grantee_for(citizen, self.request.client, session_id=authorization_code.session_id,
                           sid=self._sid, auth_time=authorization_code.auth_time,
                           acr=authorization_code.acr, amr=authorization_code.amr, acting=acting)


# What Authlib's OpenID and PKCE extensions read from a stored code.
AuthorizationCode.get_redirect_uri = lambda self: self.redirect_uri
AuthorizationCode.get_scope = lambda self: self.scope
AuthorizationCode.get_nonce = lambda self: self.nonce
AuthorizationCode.get_auth_time = lambda self: int(self.auth_time.timestamp())
AuthorizationCode.get_acr = lambda self: self.acr
AuthorizationCode.get_amr = lambda self: list(self.amr)
