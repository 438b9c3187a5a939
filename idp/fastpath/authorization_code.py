"""The authorization code redeemed before Flask (RFC 6749 §4.1.3, OIDC Core §3.1.3.1): the last
request of every citizen's sign-in at a relying party.

The Flask path (Authlib's grant with its PKCE and OpenID extensions,
:mod:`idp.oidc.grants.authorization_code`) spends more on Flask's and Authlib's request
machinery than on the redemption itself, and it runs right after a sign-in's password hash,
with the core's caches cold. Here a redemption that will succeed is made of the same pieces, in
the same order: the client authenticated by its secret (:mod:`idp.fastpath.client_auth`) and
then taken as the grant takes it (:func:`~idp.oidc.clients.registry.get_client`), the code read
by the grant's own query and checked by the grant's rules (the client's, unused, unexpired),
the exact ``redirect_uri`` (RFC 6749 §4.1.3), the S256 proof (RFC 7636 §4.6) by Authlib's own
transform, the grantee built by :func:`~idp.oidc.grants.authorization_code.grantee_for`, the
tokens made by the server's generator, the code claimed together with the refresh-token family
(:func:`idp.oidc.tokens.issued.redeem`), the ID token by the grant's
:class:`~idp.oidc.grants.id_token.IdToken`, the transaction committed, then the same
``token.issued`` audit event committed (group commit) before the answer is sent.

Anything else goes to Flask, which answers exactly as before: a wrong or second use of a code
(Flask revokes what the first use issued, RFC 6749 §4.1.2), a DPoP proof or a code or client
bound to one (RFC 9449), a code issued for an organisation or a represented person, with a
``claims`` request, without PKCE, ``private_key_jwt``, public and FAPI 2.0 clients, extra
parameters. A
code claimed by a concurrent request between the read and the claim leaves nothing stored
here, and Flask, reading it used, answers ``invalid_grant`` and revokes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, compare_s256_code_challenge
from flask import Flask

from idp.audit.log import record_grouped
from idp.db import autocommit, db
from idp.db.types import utcnow
from idp.fastpath.client_auth import token_client
from idp.metrics import count_token
from idp.oidc.clients import fapi2
from idp.oidc.clients.registry import get_client
from idp.oidc.grantee import active_ref
from idp.oidc.grants.authorization_code import grantee_for, read_code
from idp.oidc.grants.id_token import IdToken
from idp.oidc.server import authorization_server
from idp.oidc.tokens.access import unverified_claims
from idp.oidc.tokens.issued import issued_event, redeem
from idp.oidc.views import token as token_endpoint

if TYPE_CHECKING:
    from idp.oidc.models import AuthorizationCode

GRANT = "authorization_code"
PARAMETERS = frozenset({"grant_type", "code", "redirect_uri", "code_verifier", "client_id",
                        "client_secret"})


class AuthorizationCodeToken:
    view = staticmethod(token_endpoint.token)  #: the Flask view this answers for

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.id_token = IdToken()

    def answer(self, environ: dict, form: dict[str, str]) -> dict | None:
        """The token response, or None to let Flask answer."""
        if form.get("grant_type") != GRANT or not form.keys() <= PARAMETERS:
            return None
        code, verifier = form.get("code"), form.get("code_verifier")
        if not verifier or not CODE_VERIFIER_PATTERN.match(verifier):
            return None
        with self.app.app_context():
            record = token_client(environ, form, GRANT)
            if record is None:
                return None
            autocommit.statements_commit_alone()  # as the grant: the claim is its only write
            read = read_code(code)
            if read is None or not _redeemable(read[1], record.id, form.get("redirect_uri"), verifier):
                return None
            found, row = read
            citizen = active_ref(row.citizen_id, found.uid, found.locked_until)
            client = get_client(record.client_id)
            # (A public client has no secret: token_client has already left it to Flask.)
            if citizen is None or client is None or client.id != record.id or fapi2.is_fapi2(client):
                return None  # FAPI 2.0 clients: Flask's path, whole (docs/fapi2.md)
            grantee = grantee_for(citizen, client, session_id=row.session_id, sid=found.sid,
                                  auth_time=row.auth_time, acr=row.acr, amr=row.amr)
            token = authorization_server().generate_token(
                grant_type=GRANT, client=client, user=grantee, scope=row.scope,
                include_refresh_token=client.check_grant_type("refresh_token"))
            claims = unverified_claims(token["access_token"])
            if not redeem(row, token.get("refresh_token"), claims, None):
                db.session.rollback()  # claimed meanwhile: Flask reads it used, and revokes
                return None
            request = SimpleNamespace(client=client, user=grantee, authorization_code=row)
            self.id_token.process_token(SimpleNamespace(request=request), (200, token, None))
            event = issued_event(record.client_id, GRANT, token, claims["jti"], citizen_id=citizen.id)
            db.session.commit()  # (expires the session's objects: the event is made before)
            record_grouped(**event,
                           ip_address=environ.get("REMOTE_ADDR"),
                           user_agent=environ.get("HTTP_USER_AGENT"))
        count_token(GRANT)
        return token


def _redeemable(code: AuthorizationCode, client_pk: int, redirect_uri: str | None, verifier: str) -> bool:
    """The grant's checks, for a code that passes them all: issued to this client, not used,
    not expired, bound to no DPoP key, no acting context and no ``claims`` request (those are
    Flask's), the same ``redirect_uri`` (RFC 6749 §4.1.3) and an S256 challenge that
    ``verifier`` meets (RFC 7636 §4.6)."""
    if code.client_pk != client_pk or code.used_at is not None or code.expires_at <= utcnow():
        return False
    if code.dpop_jkt or code.acting or code.claims or redirect_uri != code.redirect_uri:
        return False
    if code.code_challenge_method != "S256" or not code.code_challenge:
        return False
    return compare_s256_code_challenge(verifier, code.code_challenge)
