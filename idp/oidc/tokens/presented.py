"""A token a client hands back to us (introspection, revocation): one of our JWT access tokens
or one of our opaque refresh tokens, behind one small interface Authlib's endpoints read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6750.errors import InvalidTokenError

from idp.db import db
from idp.oidc.grantee import active_citizen_ref
from idp.oidc.models import Client, RefreshToken
from idp.oidc.tokens import refresh as families
from idp.oidc.tokens.access import ANY_AUDIENCE, check_access_token
from idp.orgs.context import resolve


@dataclass
class PresentedToken:
    kind: str  # "access_token" or "refresh_token"
    client_id: str
    audiences: tuple[str, ...]
    claims: dict[str, Any] | None = None
    refresh: RefreshToken | None = None

    @classmethod
    def access_token(cls, claims) -> PresentedToken:
        """One of our access tokens, from its verified claims."""
        aud = claims["aud"]
        return cls("access_token", claims["client_id"], tuple([aud] if isinstance(aud, str) else aud),
                   claims=dict(claims))

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def is_expired(self) -> bool:
        if self.refresh is not None:
            return families.is_expired(self.refresh)
        return False  # an expired access token never becomes a PresentedToken

    def is_revoked(self) -> bool:
        if self.refresh is not None:
            return self.refresh.rotated_at is not None or self.refresh.family.revoked_at is not None
        return False  # checked when the access token was validated


#: Hints we understand; any other is ignored, as RFC 7009 §2.1 and RFC 7662 §2.1 allow ("MAY
#: ignore this parameter"): the token's type is recognised from the token itself.
HINTS = ("access_token", "refresh_token")
#: Longer strings are none of ours (an access token is well under 2 KiB).
MAX_TOKEN_LENGTH = 4096


def check_token_param(request) -> None:
    """RFC 7009 §2.1 / RFC 7662 §2.1: ``token`` is required; ``token_type_hint`` is only a hint.

    Authlib answers an unknown hint with ``unsupported_token_type`` and status 401, which
    tells a well-behaved client its credentials are wrong. RFC 7009 §2.2.1 keeps that error for
    a token *type* the server cannot revoke, never for a hint, so an unknown hint is ignored.
    """
    from authlib.oauth2.rfc6749 import InvalidRequestError

    if not request.form.get("token"):
        raise InvalidRequestError(description="The token parameter is required.")


def acceptable(token) -> bool:
    """A token string worth looking up: present and no longer than :data:`MAX_TOKEN_LENGTH`."""
    return bool(token) and isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH


def access_token_shaped(token: str, hint: str | None) -> bool:
    """Whether ``token`` is looked up as one of our JWT access tokens (three dot-separated
    parts) rather than as a refresh token: only ``refresh_token`` as the hint says otherwise."""
    return token.count(".") == 2 and hint != "refresh_token"


def find_token(token: str, hint: str | None) -> PresentedToken | None:
    """Our access token (valid: signature, iss, exp, not revoked, client enabled) or our
    refresh token (its client enabled). A hint we do not know is ignored."""
    if not acceptable(token):
        return None
    if access_token_shaped(token, hint):
        try:
            # Tokens addressed to another client's API (token exchange, RFC 8693) too: the
            # endpoints decide from ``client_id`` and ``aud`` who may see or revoke them.
            claims = check_access_token(token, audience=ANY_AUDIENCE)
        except InvalidTokenError:
            return None
        return PresentedToken.access_token(claims)
    row = families.find(token)
    if row is None:
        return None
    owner = db.session.get(Client, row.family.client_pk)
    if owner is None or not owner.enabled:
        # A disabled client's refresh tokens are dead everywhere (introspection: inactive).
        return None
    if active_citizen_ref(row.family.citizen_id) is None:
        # Nor are those of a locked account (the refresh grant refuses them too).
        return None
    if row.family.acting and resolve(row.family.acting, row.family.citizen_id) is None:
        # Nor those of a context the citizen no longer holds (idp.orgs.context).
        return None
    return PresentedToken("refresh_token", owner.client_id, (owner.client_id,), refresh=row)
