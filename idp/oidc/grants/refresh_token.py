"""The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

Every exchange claims the presented token and stores its successor in the same family in one
atomic step (:func:`idp.oidc.tokens.refresh.rotate`, when the response is saved); a token
presented after it was exchanged revokes the family (see :mod:`idp.oidc.tokens.refresh`).
Its only write being that one statement, on PostgreSQL the request runs without a transaction
of its own (:mod:`idp.db.autocommit`), from the client's authentication on.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.db.autocommit import statements_commit_alone
from idp.oidc.grantee import active_ref
from idp.oidc.grants.authorization_code import AUTH_METHODS, grantee_for
from idp.oidc.tokens import dpop
from idp.oidc.tokens import refresh as families
from idp.orgs.context import resolve


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    _citizen = None
    _acting = None
    _sid = None

    def validate_token_request(self):
        statements_commit_alone()  # before the client's authentication reads anything
        super().validate_token_request()

    def authenticate_refresh_token(self, refresh_token):
        """The stored token, claimed; None (``invalid_grant``) when it is unknown, another
        client's, revoked, expired (itself or its family, ``IDP_REFRESH_TOKEN_MAX_AGE``), when
        the citizen's account is locked or gone, or when the citizen no longer holds the context
        the family was issued for (removed from the organisation, the child now of age).
        A token exchanged already is reported as reused here; one exchanged by a concurrent
        request in the meantime, when the response is saved."""
        found = families.find_for_exchange(refresh_token)
        if found is None:
            return None
        row, uid, locked_until, self._sid = found
        client = self.request.client
        if not row.check_client(client):
            return None
        if row.family.revoked_at is not None or families.is_expired(row):
            return None
        if not dpop.refresh_allowed(row.family):
            return None  # RFC 9449 §5: a public client's bound token needs a proof of its key
        self._citizen = active_ref(row.family.citizen_id, uid, locked_until)
        if self._citizen is None:
            return None
        self._acting = resolve(row.family.acting, self._citizen.id)
        if row.family.acting and self._acting is None:
            return None
        if row.rotated_at is not None:
            families.report_reuse(row, client.client_id)
            return None
        return row

    def authenticate_user(self, refresh_token):
        family = refresh_token.family
        citizen = self._citizen
        if citizen is None:
            return None
        return grantee_for(citizen, self.request.client, session_id=family.session_id,
                           sid=self._sid, auth_time=family.auth_time,
                           acr=family.acr, amr=family.amr, acting=self._acting)

    def revoke_old_credential(self, refresh_token):
        """Already marked exchanged when it was claimed."""
