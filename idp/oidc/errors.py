"""One error type per spec error code, for the whole provider.

OAuth 2.0 (RFC 6749 §4.1.2.1, §5.2), bearer usage (RFC 6750 §3.1) and OpenID Connect
(OIDC Core §3.1.2.6) errors come from Authlib and are re-exported here so views import them
from one place. :class:`InvalidAuthorizationRequest` is ours: an authorization request whose
client or redirect URI cannot be trusted, answered with a readable page (status 400) and never
with a redirect (RFC 6749 §4.1.2.1; RFC 9700 §4.1).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)


def quoted(value: str, limit: int = 64) -> str:
    """A value from the request, fit to quote in an ``error_description``: RFC 6749 §5.2 allows
    only %x20-21 / %x23-5B / %x5D-7E there (Authlib raises ValueError, a 500, on anything
    else), so every other character becomes ``?``, and the value is cut to ``limit``."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in value[:limit])


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0 §2: the authorization server
    cannot authenticate the citizen as the request requires (``acr_values``, the client's
    ``default_acr_values``): the account lacks the factors, so no weaker token is issued."""

    error = "unmet_authentication_requirements"


class InvalidAuthorizationRequest(Exception):
    """The client or the redirect URI of an authorization request is unknown or invalid."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


__all__ = [
    "AccessDeniedError", "AccountSelectionRequiredError", "ConsentRequiredError",
    "InsufficientScopeError", "InteractionRequiredError",
    "InvalidAuthorizationRequest", "InvalidClientError", "InvalidGrantError", "InvalidRequestError",
    "InvalidScopeError", "InvalidTokenError", "LoginRequiredError", "OAuth2Error",
    "RequestNotSupportedError", "RequestURINotSupportedError", "UnauthorizedClientError",
    "UnmetAuthenticationRequirementsError", "UnsupportedResponseTypeError",
]
