"""The client credentials grant (RFC 6749 §4.4) answered before Flask: what agency back-ends
call before every API call, by the thousand per second at national scale.

The Flask path (Authlib's grant, :mod:`idp.oidc.grants.client_credentials`) costs several
milliseconds per token, most of it Flask's and Authlib's request machinery and an ORM client;
the signature is a small part. Here a request that will succeed is answered with the same
pieces: the client read as one row and checked by the same secret rule, the grant and scope
rules of the grant class (:func:`~idp.oidc.grants.client_credentials.refused_scope`), the
token made by the server's own generator (the same claims, ``kid`` and lifetime), the same
``token.issued`` audit event, committed before the answer is sent (group commit), and the
same metrics. Every other request (another grant, an error of any kind, ``private_key_jwt``,
extra parameters) goes to Flask, which answers it as it always did.
"""

from __future__ import annotations

from flask import Flask

from idp.audit.log import record_grouped
from idp.fastpath.client_auth import token_client
from idp.metrics import count_token
from idp.oidc.grants.client_credentials import refused_scope
from idp.oidc.server import authorization_server
from idp.oidc.tokens.access import unverified_claims
from idp.oidc.tokens.issued import issued_event
from idp.oidc.views import token as token_endpoint

GRANT = "client_credentials"
PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})


class ClientCredentialsToken:
    view = staticmethod(token_endpoint.token)  #: the Flask view this answers for

    def __init__(self, app: Flask) -> None:
        self.app = app

    def answer(self, environ: dict, form: dict[str, str]) -> dict | None:
        """The token response, or None to let Flask answer."""
        if form.get("grant_type") != GRANT or not form.keys() <= PARAMETERS:
            return None
        with self.app.app_context():
            client = token_client(environ, form, GRANT)
            if client is None:
                return None
            scope = form.get("scope")
            if refused_scope(scope, client.scope):
                return None
            token = authorization_server().generate_token(
                grant_type=GRANT, client=client, scope=scope, include_refresh_token=False)
            event = issued_event(client.client_id, GRANT, token,
                                 unverified_claims(token["access_token"])["jti"])
            record_grouped(**event, ip_address=environ.get("REMOTE_ADDR"),
                           user_agent=environ.get("HTTP_USER_AGENT"))
        count_token(GRANT)
        return token
