"""Token introspection (RFC 7662) of an active access token, answered before Flask: resource
servers ask it on every API call they serve.

A request is answered here only when the answer is ``active: true`` for a JWT access token
issued to the very client asking, authenticated with its secret. The checks are the Flask
path's own, called the same way: the token's shape and hint
(:func:`~idp.oidc.tokens.presented.access_token_shaped`), client authentication
(:mod:`idp.fastpath.client_auth`), the permission
(:func:`~idp.oidc.endpoints.introspection.may_introspect`),
:class:`~idp.oidc.tokens.access.AccessTokenValidator` for the
signature (:data:`~idp.oidc.tokens.access.verified_signatures` remembers a signature already
checked), the RFC 9068 claims, then revocation, the citizen's account lock and the client's
registration read from the database on every request (in one query), and for a token that
carries an acting context, whether it still holds (:func:`~idp.oidc.tokens.acting.still_holds`); the
body is :func:`~idp.oidc.endpoints.introspection.access_token_answer`.
Everything else (a refresh token, an inactive or revoked token, a token addressed to the
caller as an audience, any error) goes to Flask.
"""

from __future__ import annotations

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from flask import Flask

from idp.db.single_read import single_read_connection
from idp.fastpath.client_auth import authenticate
from idp.oidc.endpoints.introspection import IntrospectionEndpoint, access_token_answer, may_introspect
from idp.oidc.tokens.access import ANY_AUDIENCE, AccessTokenValidator
from idp.oidc.tokens.acting import still_holds
from idp.oidc.tokens.presented import PresentedToken, acceptable, access_token_shaped
from idp.oidc.views import token as token_endpoint

PARAMETERS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})


class Introspection:
    view = staticmethod(token_endpoint.introspect)  #: the Flask view this answers for

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.issuer = app.config["IDP"].issuer

    def answer(self, environ: dict, form: dict[str, str]) -> dict | None:
        """The introspection response, or None to let Flask answer."""
        token = form.get("token")
        if (not form.keys() <= PARAMETERS or not acceptable(token)
                or not access_token_shaped(token, form.get("token_type_hint"))):
            return None
        with self.app.app_context():
            validator = AccessTokenValidator(ANY_AUDIENCE)
            try:
                claims = validator.authenticate_token(token)
                validator.validate_claims(claims)
            except InvalidTokenError:
                return None
            with single_read_connection() as connection:
                client = authenticate(environ, form, connection, IntrospectionEndpoint.ENDPOINT_NAME,
                                      jti=claims["jti"], sub=claims["sub"])
            # Only the client the token was issued to is answered here: the one query read that
            # client's registration, which check_live needs (an audience asking goes to Flask).
            if (client is None or claims["client_id"] != client.client_id
                    or not may_introspect(PresentedToken.access_token(claims), client)):
                return None
            try:
                validator.check_live(claims, revoked=client.token_revoked,
                                     locked=client.subject_locked, client=client,
                                     represented=still_holds(claims))
            except InvalidTokenError:
                return None
        return access_token_answer(claims, self.issuer)

