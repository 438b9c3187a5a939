"""Protecting an API with our access tokens (RFC 6750 bearer usage of RFC 9068 JWTs).

Other parts of the server (the signature-verification API, agency-facing APIs) use::

    from idp.oidc.tokens.resource import current_token, require_access_token

    @bp.get("/api/v1/something")
    @require_access_token("some_scope")
    def something():
        return {"client": current_token["client_id"]}

The token is checked fully: signature by a published key, ``typ`` ``at+jwt``, ``iss``,
``aud`` (this server's issuer unless ``audience`` says otherwise), ``exp``, not revoked, and its
client still enabled; a missing scope is ``insufficient_scope`` (403). Errors are JSON with
the ``WWW-Authenticate`` header of RFC 6750 §3.
"""

from __future__ import annotations

import functools

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from flask import g, jsonify, request
from werkzeug.local import LocalProxy

from idp.oidc.authorization_header import bearer_token
from idp.oidc.tokens.access import AccessTokenValidator


class BearerProtector(ResourceProtector):
    def __init__(self, audience: str | None = None, allow_body: bool = False):
        super().__init__()
        self.allow_body = allow_body
        self.register_token_validator(AccessTokenValidator(audience))

    def parse_request_authorization(self, req):
        """RFC 6750 §2.1 header; §2.2 form body only where the endpoint allows it (UserInfo)."""
        in_body = (request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded"
                   and "access_token" in request.form)
        header = req.headers.get("Authorization")
        if self.allow_body and not header and in_body:
            return self.get_token_validator("bearer"), request.form["access_token"]
        if not header:
            raise MissingAuthorizationError(self._default_auth_type, self._default_realm)
        token = bearer_token(header)
        if token is None:
            # Another scheme, or a Bearer value that is no b64token (odd bytes): 401 either way.
            raise UnsupportedTokenTypeError(self._default_auth_type, self._default_realm)
        return self.get_token_validator("bearer"), token


def error_response(error: OAuth2Error, scopes: list[str] | None = None):
    status, body, headers = error()
    response = jsonify(dict(body))
    response.status_code = status
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    if isinstance(error, MissingAuthorizationError | UnsupportedTokenTypeError):
        # RFC 6750 §3.1: a request without a bearer token gets the challenge, no error code.
        response = jsonify(error="invalid_token", error_description="A bearer access token is required.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
    elif "WWW-Authenticate" not in response.headers:
        # RFC 6750 §3: every refusal of a protected resource carries the Bearer challenge
        # (Authlib adds it for invalid_token, not for insufficient_scope).
        challenge = f'Bearer error="{error.error}"'
        if scopes:
            challenge += f', scope="{" ".join(scopes)}"'
        response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def require_access_token(scope: str | list[str] | None = None, *, audience: str | None = None,
                         allow_body: bool = False):
    """Decorator: the view runs only with a valid access token carrying ``scope``."""
    protector = BearerProtector(audience, allow_body)
    scopes = [scope] if isinstance(scope, str) else scope

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                protector.acquire_token(scopes)
            except OAuth2Error as error:
                return error_response(error, scopes)
            return view(*args, **kwargs)
        return wrapper
    return decorator


current_token = LocalProxy(lambda: g.get("authlib_server_oauth2_token"))

__all__ = ["current_token", "require_access_token"]
