"""Validating an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1-2), as named steps
called in order by :func:`validate`.

Until the client and its redirect URI are validated, a problem raises
:class:`InvalidAuthorizationRequest` (a page, status 400, never a redirect: RFC 6749 §4.1.2.1);
afterwards an :class:`OAuth2Error` that the caller returns to the redirect URI.
Nothing here depends on the citizen's session: :mod:`idp.oidc.views.authorize` handles that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from werkzeug.datastructures import MultiDict

from idp.auth import assurance
from idp.keys import service as keys
from idp.oidc.authorization.response_modes import RESPONSE_MODES
from idp.oidc.clients.registry import registered_client
from idp.oidc.errors import (
    InvalidAuthorizationRequest,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    RequestNotSupportedError,
    RequestURINotSupportedError,
    UnauthorizedClientError,
    UnmetAuthenticationRequirementsError,
    UnsupportedResponseTypeError,
    quoted,
)
from idp.oidc.models import Client
from idp.oidc.scopes import SCOPES

MAX_VALUE_LENGTH = 2048
MAX_PARAMETERS = 50
PROMPTS = {"none", "login", "consent", "select_account"}
CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass
class AuthorizationRequest:
    """What a validated request asks for; ``params`` are the single values as received."""

    raw: MultiDict
    params: dict[str, str] = field(default_factory=dict)
    client: Client | None = None
    redirect_uri: str | None = None
    response_mode: str = "query"
    scopes: list[str] = field(default_factory=list)
    prompt: set[str] = field(default_factory=set)
    max_age: int | None = None
    hinted_sub: str | None = None
    #: ``acr_values`` as sent, in order of preference; and the level the request needs.
    acr_values: list[str] = field(default_factory=list)
    required_acr: str | None = None

    @property
    def state(self) -> str | None:
        return self.params.get("state") or None

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def validate(values: MultiDict) -> AuthorizationRequest:
    """Run every step in order; return the request or raise (see module docstring)."""
    request = AuthorizationRequest(raw=values, params={k: values.get(k) for k in values})
    for step in STEPS:
        step(request)
    return request


def _redirect_error(request: AuthorizationRequest, error: OAuth2Error) -> OAuth2Error:
    error.redirect_uri = request.redirect_uri
    error.state = request.state
    return error


# -- before the redirect URI is trusted: a page ------------------------------------------------


def check_size(request: AuthorizationRequest) -> None:
    """Size limits on every input: a request too large for any real client is refused before
    anything is parsed or looked up."""
    if len(request.raw) > MAX_PARAMETERS or any(
            len(v) > MAX_VALUE_LENGTH for _, v in request.raw.items(multi=True)):
        raise InvalidAuthorizationRequest("The authorization request is too large.")


def check_client(request: AuthorizationRequest) -> None:
    """RFC 6749 §4.1.2.1: an unknown (or disabled) client is told to the citizen, not redirected."""
    if len(request.raw.getlist("client_id")) > 1:
        raise InvalidAuthorizationRequest("The client_id parameter is given more than once.")
    client = registered_client(request.params.get("client_id"))
    if client is None:
        raise InvalidAuthorizationRequest("The service that sent you here is not registered.")
    request.client = client


def check_redirect_uri(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: redirect_uri is REQUIRED and MUST exactly match a registered one
    (RFC 9700 §4.1.3: simple string comparison)."""
    uris = request.raw.getlist("redirect_uri")
    if len(uris) != 1:
        raise InvalidAuthorizationRequest(
            "The redirect_uri parameter is missing." if not uris
            else "The redirect_uri parameter is given more than once.")
    if not request.client.check_redirect_uri(uris[0]):
        raise InvalidAuthorizationRequest("The redirect_uri is not registered for this service.")
    request.redirect_uri = uris[0]


# -- from here on, errors go to the redirect URI ------------------------------------------------


def check_response_mode(request: AuthorizationRequest) -> None:
    """Response modes offered: query (default for code) and form_post."""
    mode = request.params.get("response_mode") or "query"
    if mode not in RESPONSE_MODES or len(request.raw.getlist("response_mode")) > 1:
        raise _redirect_error(request, InvalidRequestError("Unsupported response_mode."))
    request.response_mode = mode


def check_no_repeated_parameters(request: AuthorizationRequest) -> None:
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once."""
    for name in request.raw:
        if len(request.raw.getlist(name)) > 1:
            raise _redirect_error(request, InvalidRequestError(
                f"The parameter '{quoted(name)}' is repeated."))


def check_request_object(request: AuthorizationRequest) -> None:
    """OIDC Core §6: request objects are not supported (advertised as such in discovery)."""
    if "request" in request.params:
        raise _redirect_error(request, RequestNotSupportedError())
    if "request_uri" in request.params:
        raise _redirect_error(request, RequestURINotSupportedError())


def check_response_type(request: AuthorizationRequest) -> None:
    """RFC 6749 §3.1.1: response_type is required; only ``code`` is offered."""
    response_type = request.params.get("response_type")
    if not response_type:
        raise _redirect_error(request, InvalidRequestError("Missing 'response_type'."))
    if response_type != "code":
        raise _redirect_error(request, UnsupportedResponseTypeError(
            "Only response_type=code is supported."))
    if not request.client.check_response_type("code"):
        raise _redirect_error(request, UnauthorizedClientError(
            "The client is not registered for the code flow."))


def check_scope(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: scope MUST contain openid; RFC 6749 §3.3: unknown scopes, or scopes
    the client may not ask for, are ``invalid_scope``."""
    scopes = list(dict.fromkeys((request.params.get("scope") or "").split()))
    if "openid" not in scopes:
        raise _redirect_error(request, InvalidScopeError("The scope must include 'openid'."))
    allowed = set(request.client.scopes)
    for scope in scopes:
        if scope not in SCOPES:
            raise _redirect_error(request, InvalidScopeError(f"Unknown scope '{quoted(scope)}'."))
        if scope not in allowed:
            raise _redirect_error(request, InvalidScopeError(
                f"The scope '{quoted(scope)}' is not available to this client."))
    request.scopes = scopes


def check_pkce(request: AuthorizationRequest) -> None:
    """RFC 7636 §4.3 with RFC 9700 §2.1.1: S256 only (``plain`` refused); required for public
    clients (RFC 9700 §2.1.1 and RFC 8252 §8.1), accepted from confidential ones."""
    challenge = request.params.get("code_challenge")
    method = request.params.get("code_challenge_method")
    if method is not None and method != "S256":
        raise _redirect_error(request, InvalidRequestError("Only code_challenge_method=S256 is supported."))
    if challenge is None:
        if method is not None:
            raise _redirect_error(request, InvalidRequestError("Missing 'code_challenge'."))
        if request.client.is_public:
            raise _redirect_error(request, InvalidRequestError("PKCE (S256) is required for this client."))
        return
    if method is None:
        raise _redirect_error(request, InvalidRequestError(
            "Missing 'code_challenge_method': S256 must be stated (plain is not supported)."))
    if not CODE_CHALLENGE.match(challenge):
        raise _redirect_error(request, InvalidRequestError("Invalid 'code_challenge'."))


def check_nonce(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: nonce is optional in the code flow; it is carried to the ID token."""
    if len(request.params.get("nonce") or "") > 512:
        raise _redirect_error(request, InvalidRequestError("The nonce is too long."))


def check_prompt(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: none, login, consent, select_account; none only on its own."""
    prompts = set((request.params.get("prompt") or "").split())
    if prompts - PROMPTS:
        raise _redirect_error(request, InvalidRequestError("Unsupported 'prompt' value."))
    if "none" in prompts and len(prompts) > 1:
        raise _redirect_error(request, InvalidRequestError("prompt=none cannot be combined."))
    request.prompt = prompts


def check_max_age(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: max_age is a non-negative number of seconds."""
    raw = request.params.get("max_age")
    if raw is None or raw == "":
        return
    if not raw.isdigit() or len(raw) > 10:
        raise _redirect_error(request, InvalidRequestError("max_age must be a whole number of seconds."))
    request.max_age = int(raw)


def check_id_token_hint(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1: an id_token_hint must be an ID token we issued to this client
    (expired is fine); the citizen it names must be the one signed in."""
    hint = request.params.get("id_token_hint")
    if not hint:
        return
    try:
        kid = extract_compact(hint.encode()).headers().get("kid")
        token = jwt.decode(hint, keys.public_keyset(kid))
    except (JoseError, ValueError):
        raise _redirect_error(request, InvalidRequestError("The id_token_hint is not valid.")) from None
    claims = token.claims
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    if (str(token.header.get("typ", "")).lower() == "at+jwt"
            or claims.get("iss") != current_app.config["IDP"].issuer
            or request.client.client_id not in audiences
            or not isinstance(claims.get("sub"), str)):
        raise _redirect_error(request, InvalidRequestError(
            "The id_token_hint was not issued to this client."))
    request.hinted_sub = claims["sub"]


def check_acr_values(request: AuthorizationRequest) -> None:
    """OIDC Core §3.1.2.1 ``acr_values`` (aliases from ``IDP_ACR_ALIASES`` accepted) and the
    client's ``default_acr_values`` (OIDC Registration §2), which always apply as a minimum.
    Values we do not know are ignored, as §5.5.1.1 allows for voluntary requests; a request
    whose every value is unknown cannot be met (Unmet Authentication Requirements 1.0 §2)."""
    values = (request.params.get("acr_values") or "").split()
    request.acr_values = values
    if values and not any(assurance.resolve(v) for v in values):
        raise _redirect_error(request, UnmetAuthenticationRequirementsError(
            "None of the requested acr_values is supported."))
    request.required_acr = assurance.required_level(values, request.client.default_acr_values or [])


STEPS = (
    check_size,
    check_client,
    check_redirect_uri,
    check_response_mode,
    check_no_repeated_parameters,
    check_request_object,
    check_response_type,
    check_scope,
    check_pkce,
    check_nonce,
    check_prompt,
    check_max_age,
    check_id_token_hint,
    check_acr_values,
)
