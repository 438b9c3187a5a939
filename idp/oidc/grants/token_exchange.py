"""OAuth 2.0 Token Exchange (RFC 8693, https://www.rfc-editor.org/rfc/rfc8693) for agency back-ends.

An agency holding a citizen's access token (issued to it, or addressed to it by an earlier
exchange) asks for a narrower token addressed to another agency's API::

    POST /token
    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    &subject_token=<access token>&subject_token_type=urn:ietf:params:oauth:token-type:access_token
    &audience=<the other agency's client_id>   (or resource=<a URI of its API>)
    &scope=<optional, narrower>

Only where an administrator allowed that (client, audience) pair (``idp token-exchange
allow``), and within the allowed scope and the subject token's scope. The new token is an
RFC 9068 JWT with ``aud`` = the target, ``sub`` = the citizen as the target knows them
(pairwise), ``client_id`` = the caller, and ``act`` = ``{"sub": <caller>}`` wrapping any earlier
``act`` (§4.1: a delegation chain, newest actor outermost). It never outlives the subject
token and carries no refresh token. The acting context is kept, never widened: ``org`` as the
subject token has it, and a parent acting for a child (the child as ``sub``) stays in the
``act`` chain (:mod:`idp.oidc.tokens.acting`); both are checked again wherever the new token is used.

Refusals (§2.2.2): ``invalid_request`` for a missing, malformed, unsupported or unacceptable
subject token; ``invalid_target`` for a target that is unknown or not allowed for the caller;
``unauthorized_client`` for a client not registered for the token-exchange grant type
(``grant_types``) or allowed no exchange at all (``idp token-exchange allow``): both must
hold; ``invalid_scope`` beyond what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from flask import current_app
from sqlalchemy import select

from idp import clock
from idp.audit.log import record
from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.errors import quoted
from idp.oidc.models import Client, TokenExchangePolicy
from idp.oidc.scopes import SCOPES
from idp.oidc.subject import citizen_for_subject, remember_subject
from idp.oidc.tokens.access import ANY_AUDIENCE, AccessTokenGenerator, check_access_token
from idp.oidc.tokens.acting import rebase_act

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: §3: the only token type accepted and issued: our JWT access tokens.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
MAX_PARAMETER = 4096


class InvalidTargetError(OAuth2Error):
    """RFC 8693 §2.2.2 / RFC 8707 §2: the server will not issue a token for that target."""

    error = "invalid_target"


@dataclass
class ExchangedSubject:
    """The citizen as the target sees them, and what the new token must say besides (Authlib
    passes it to the token generator as the grant's "user")."""

    citizen: Citizen
    sub: str
    audience: list[str]
    act: dict
    exp: int
    auth_time: datetime | None = None
    acr: str | None = None
    amr: list[str] = field(default_factory=list)
    #: The organisation the subject token acts for, kept as it is (never dropped: a token
    #: without it would speak for the citizen alone, a wider context).
    org: dict | None = None

    def get_user_id(self) -> str:
        return self.sub


class ExchangedTokenGenerator(AccessTokenGenerator):
    """RFC 9068 tokens for exchanges: the target as ``aud``, ``act``, and an expiry no later
    than the subject token's."""

    def get_audiences(self, client, user: ExchangedSubject, scope):
        return user.audience[0] if len(user.audience) == 1 else list(user.audience)

    def get_auth_time(self, user: ExchangedSubject):
        return int(user.auth_time.timestamp()) if user.auth_time else None

    def get_extra_claims(self, client, grant_type, user: ExchangedSubject, scope):
        claims = {"act": user.act, "exp": min(user.exp, int(clock.time()) + self._ttl)}
        if user.org is not None:
            claims["org"] = user.org
        return claims

    def __init__(self, issuer: str, alg: str, access_ttl: int):
        super().__init__(issuer, alg, access_ttl)
        self._ttl = access_ttl


# -- policy --------------------------------------------------------------------------------------


def policies_of(client: Client) -> list[TokenExchangePolicy]:
    return list(db.session.scalars(
        select(TokenExchangePolicy).where(TokenExchangePolicy.client_pk == client.id)))


def allow(client: Client, audience: Client, scope: str, *, actor: str) -> TokenExchangePolicy:
    """Allow ``client`` to exchange citizens' tokens for ``audience`` within ``scope``
    (replacing an earlier scope for the pair). Caller commits."""
    scopes = list(dict.fromkeys(scope.split()))
    if not scopes:
        raise ValueError("the scope must name at least one scope")
    if unknown := [s for s in scopes if s not in SCOPES]:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    if client.id == audience.id:
        raise ValueError("a client does not need an exchange to call itself")
    policy = db.session.scalar(select(TokenExchangePolicy).where(
        TokenExchangePolicy.client_pk == client.id, TokenExchangePolicy.audience_pk == audience.id))
    if policy is None:
        policy = TokenExchangePolicy(client_pk=client.id, audience_pk=audience.id, scope="")
        db.session.add(policy)
    policy.scope = " ".join(scopes)
    policy.created_by = actor
    db.session.flush()
    record("token_exchange.allowed", actor=actor, client_id=client.client_id,
           details={"audience": audience.client_id, "scope": policy.scope})
    return policy


def revoke(client: Client, audience: Client, *, actor: str) -> bool:
    """Withdraw the permission; tokens already issued run out at their (short) expiry."""
    policy = db.session.scalar(select(TokenExchangePolicy).where(
        TokenExchangePolicy.client_pk == client.id, TokenExchangePolicy.audience_pk == audience.id))
    if policy is None:
        return False
    db.session.delete(policy)
    record("token_exchange.revoked", actor=actor, client_id=client.client_id,
           details={"audience": audience.client_id})
    return True


def resolve_target(audiences: list[str], resources: list[str]) -> tuple[Client, list[str]]:
    """The one client the request targets, and the ``aud`` values for the new token.

    ``audience`` (§2.1) is a client's ``client_id``; ``resource`` (RFC 8707 §2) an absolute URI
    on the origin of exactly one client's redirect URIs (an agency's API lives beside its app).
    One target per exchange: several different ones are ``invalid_target``.
    """
    targets: dict[int, Client] = {}
    aud: list[str] = []
    for value in audiences:
        client = db.session.scalar(select(Client).where(Client.client_id == value[:64]))
        if client is None or not client.enabled:
            raise InvalidTargetError(f"Unknown audience '{quoted(value)}'.")
        targets[client.id] = client
    for value in resources:
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise InvalidTargetError("A resource must be an absolute URI without a fragment (RFC 8707).")
        origin = f"{parts.scheme}://{parts.netloc}"
        matches = [c for c in db.session.scalars(select(Client).where(Client.enabled.is_(True)))
                   if any(u.startswith(origin + "/") or u == origin for u in c.redirect_uris)]
        if len(matches) != 1:
            raise InvalidTargetError(f"No single registered service at '{quoted(origin)}'.")
        targets[matches[0].id] = matches[0]
        aud.append(value)
    if not targets:
        raise InvalidRequestError("Name the target with 'audience' or 'resource'.")
    if len(targets) > 1:
        raise InvalidTargetError("One target per token exchange.")
    target = next(iter(targets.values()))
    return target, [target.client_id, *aud]


# -- the grant -----------------------------------------------------------------------------------


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """RFC 8693 §2 on Authlib's token endpoint. Confidential clients only: the caller's own
    authentication is what names the actor (no ``actor_token``)."""

    GRANT_TYPE = GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        payload = self.request.payload
        data = payload.data
        if any(len(str(v)) > MAX_PARAMETER for v in data.values()):
            raise InvalidRequestError("A parameter is too long.")
        subject_token = data.get("subject_token")
        if not subject_token or not data.get("subject_token_type"):
            raise InvalidRequestError("subject_token and subject_token_type are required "
                                      "(RFC 8693 section 2.1).")
        if data["subject_token_type"] != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"Only subject_token_type {ACCESS_TOKEN_TYPE} is accepted.")
        if data.get("actor_token") or data.get("actor_token_type"):
            raise InvalidRequestError("actor_token is not accepted: the authenticated client is the actor.")
        if data.get("requested_token_type") not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequestError(f"Only {ACCESS_TOKEN_TYPE} can be issued.")

        if not client.check_grant_type(GRANT_TYPE):
            # RFC 6749 §5.2: the client is not registered for this grant type, whatever the
            # administrator's exchange permissions say (both must hold).
            raise UnauthorizedClientError("This client is not registered for token exchange.")
        policies = policies_of(client)
        if not policies:
            raise UnauthorizedClientError("This client is not allowed to exchange tokens.")
        values = payload.datalist
        target, aud = resolve_target(
            [v for v in values.get("audience", []) if v], [v for v in values.get("resource", []) if v])
        policy = next((p for p in policies if p.audience_pk == target.id), None)
        if policy is None:
            raise InvalidTargetError(f"This client may not exchange tokens for '{target.client_id}'.")

        claims = self._subject_claims(subject_token, client)
        self.request.user = self._subject(claims, client, target, aud)
        self.request.scope = self._granted_scope(claims, policy)
        self._subject_jti = claims["jti"]
        self._target = target

    def _subject_claims(self, subject_token: str, client: Client) -> dict:
        """§2.2.2: a subject token that is invalid for any reason, or not the caller's, is
        ``invalid_request``. The caller's means issued to it for this server's APIs (its own
        sign-in), or addressed to it by an earlier exchange (a delegation chain)."""
        try:
            claims = dict(check_access_token(subject_token, audience=ANY_AUDIENCE))
        except InvalidTokenError:
            raise InvalidRequestError("The subject_token is invalid, expired or revoked.") from None
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        own = claims["client_id"] == client.client_id and aud == [current_app.config["IDP"].issuer]
        if not own and client.client_id not in aud:
            raise InvalidRequestError("The subject_token was not issued to this client.")
        return claims

    def _subject(self, claims: dict, client: Client, target: Client, aud: list[str]) -> ExchangedSubject:
        if "auth_time" not in claims:
            raise InvalidRequestError("The subject_token does not represent a citizen.")
        citizen = citizen_for_subject(client, claims["sub"])
        if citizen is None:
            raise InvalidRequestError("The subject_token's subject is unknown.")
        act = {"sub": client.client_id}
        if isinstance(claims.get("act"), dict):
            # A parent acting for a child stays in the chain, named as the target knows them.
            act["act"] = rebase_act(claims["act"], client, target)
        return ExchangedSubject(
            citizen=citizen, sub=remember_subject(citizen, target), audience=aud, act=act,
            exp=int(claims["exp"]), auth_time=datetime.fromtimestamp(claims["auth_time"], UTC),
            acr=claims.get("acr"), amr=list(claims.get("amr") or []), org=claims.get("org"))

    def _granted_scope(self, claims: dict, policy: TokenExchangePolicy) -> str:
        """RFC 8693 §2.1 / RFC 6749 §3.3: never more than both the subject token and the
        administrator's permission carry."""
        original = (claims.get("scope") or "").split()
        allowed = set(policy.scope.split())
        available = [s for s in original if s in allowed]
        requested = (self.request.payload.scope or "").split()
        if requested:
            if beyond := [s for s in requested if s not in available]:
                raise InvalidScopeError(
                    f"Scope not available in this exchange: {quoted(' '.join(beyond), 256)}.")
            return " ".join(dict.fromkeys(requested))
        if not available:
            raise InvalidScopeError("The subject_token carries none of the scopes allowed for this target.")
        return " ".join(available)

    def create_token_response(self):
        user: ExchangedSubject = self.request.user
        token = self.generate_token(user=user, scope=self.request.scope, include_refresh_token=False)
        now = int(clock.time())
        token["expires_in"] = max(0, min(user.exp, now + token.get("expires_in", 0)) - now)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE  # §2.2.1: REQUIRED
        self.save_token(token)
        record("token.exchanged", actor=f"client:{self.client.client_id}", citizen_id=user.citizen.id,
               client_id=self.client.client_id,
               details={"audience": self._target.client_id, "scope": token.get("scope", ""),
                        "subject_jti": self._subject_jti, "act": user.act})
        return 200, token, self.TOKEN_RESPONSE_HEADER


__all__ = [
    "ACCESS_TOKEN_TYPE", "GRANT_TYPE", "ExchangedTokenGenerator", "InvalidTargetError",
    "TokenExchangeGrant", "allow", "policies_of", "resolve_target", "revoke",
]
