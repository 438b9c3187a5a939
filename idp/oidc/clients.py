"""Registering and managing relying-party clients (OIDC Dynamic Client Registration 1.0 §2
metadata, registered by an administrator).

Client secrets are 256-bit random values; only their SHA-256 digest is stored and the plain
value is shown once. Rotation keeps the previous secret valid for ``IDP_CLIENT_SECRET_GRACE``
seconds so a relying party can redeploy without an outage (DOMAIN.md, problem 6).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, g
from sqlalchemy import select

from idp.auth import assurance
from idp.db import db
from idp.db.types import utcnow
from idp.keys.service import GENERATORS
from idp.oidc.models import Client, ClientSecret
from idp.oidc.scopes import SCOPES

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ClientError(ValueError):
    """Registration metadata that cannot be accepted; the message says which and why."""


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A 256-bit random client secret (RFC 6749 §2.3.1; RFC 9700 §2.5)."""
    return secrets.token_urlsafe(32)


def check_secret(client: Client, secret: str) -> bool:
    """Constant-time comparison of the digest against every live secret of the client."""
    if not secret or len(secret) > 256:
        return False
    digest = secret_digest(secret)
    now = utcnow()
    ok = False
    for row in client.secrets:
        if row.expires_at is not None and row.expires_at <= now:
            continue
        ok |= hmac.compare_digest(row.digest, digest)
    return ok


def validate_redirect_uri(uri: str) -> str:
    """OIDC Registration §2 / RFC 9700 §2.1: absolute https URIs (http only on loopback),
    no fragment (RFC 6749 §3.1.2), no wildcards: compared later by exact string."""
    if not uri or len(uri) > 1000 or any(c.isspace() for c in uri):
        raise ClientError(f"redirect URI {uri!r} is empty, too long or contains spaces")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r} must not contain a fragment")
    if "*" in uri:
        raise ClientError(f"redirect URI {uri!r} must not contain wildcards")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return uri
    raise ClientError(f"redirect URI {uri!r} must be https (http only on 127.0.0.1 / localhost)")


def create_client(*, name: str, redirect_uris: list[str], client_id: str | None = None,
                  token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
                  grant_types: list[str] | None = None, scope: str = "openid profile",
                  post_logout_redirect_uris: list[str] | None = None,
                  subject_type: str = "pairwise", sector_identifier: str | None = None,
                  id_token_signed_response_alg: str | None = None, jwks: dict | None = None,
                  logo_uri: str | None = None, agency: str | None = None,
                  contacts: list[str] | None = None,
                  default_acr_values: list[str] | None = None) -> tuple[Client, str | None]:
    """Register a client; returns it and its plain secret (None for public and
    ``private_key_jwt`` clients). The caller commits."""
    grant_types = list(grant_types or ["authorization_code", "refresh_token"])
    if token_endpoint_auth_method not in AUTH_METHODS:
        raise ClientError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if unknown := set(grant_types) - set(GRANT_TYPES):
        raise ClientError(f"unsupported grant types: {', '.join(sorted(unknown))}")
    if token_endpoint_auth_method == "none" and "client_credentials" in grant_types:  # noqa: S105
        raise ClientError("a public client cannot use client_credentials (RFC 6749 §4.4)")
    if token_endpoint_auth_method == "private_key_jwt" and not jwks:  # noqa: S105
        raise ClientError("private_key_jwt needs the client's public keys (jwks)")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("the authorization_code grant needs at least one redirect URI")
    if unknown := set(scope.split()) - set(SCOPES):
        raise ClientError(f"unknown scopes: {', '.join(sorted(unknown))}")
    if subject_type not in ("pairwise", "public"):
        raise ClientError("subject_type must be pairwise or public")
    if id_token_signed_response_alg and id_token_signed_response_alg not in GENERATORS:
        raise ClientError(f"id_token_signed_response_alg must be one of {', '.join(GENERATORS)}")
    if unknown := [v for v in default_acr_values or [] if assurance.resolve(v) is None]:
        raise ClientError(f"unknown acr values: {', '.join(unknown)} (see acr_values_supported)")
    client = Client(
        client_id=client_id or secrets.token_urlsafe(16),
        name=name,
        token_endpoint_auth_method=token_endpoint_auth_method,
        redirect_uris=[validate_redirect_uri(u) for u in redirect_uris],
        post_logout_redirect_uris=[validate_redirect_uri(u) for u in post_logout_redirect_uris or []],
        grant_types=grant_types,
        response_types=["code"] if "authorization_code" in grant_types else [],
        scope=" ".join(dict.fromkeys(scope.split())),
        subject_type=subject_type,
        sector_identifier=sector_identifier,
        id_token_signed_response_alg=id_token_signed_response_alg,
        jwks=jwks,
        logo_uri=logo_uri,
        agency=agency,
        contacts=list(contacts or []),
        # OIDC Registration §2; here a minimum that always applies (idp.auth.assurance).
        default_acr_values=list(default_acr_values or []),
    )
    db.session.add(client)
    secret = None
    if token_endpoint_auth_method in ("client_secret_basic", "client_secret_post"):
        secret = new_secret()
        client.secrets.append(ClientSecret(digest=secret_digest(secret)))
    db.session.flush()
    return client, secret


def get_client(client_id: str | None) -> Client | None:
    """The enabled client with this id, or None. Memoised per request: Authlib asks for the
    same client once per authentication method it tries."""
    if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
        return None
    memo = g.setdefault("idp_clients", {})
    if client_id not in memo:
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        memo[client_id] = client if client is not None and client.enabled else None
    return memo[client_id]


def rotate_secret(client: Client, *, grace_seconds: int | None = None) -> str:
    """Issue a new secret; older live ones expire after the grace period. Caller commits."""
    grace = current_app.config["IDP"].client_secret_grace if grace_seconds is None else grace_seconds
    now = utcnow()
    for row in client.secrets:
        if row.expires_at is None or row.expires_at > now + timedelta(seconds=grace):
            row.expires_at = now + timedelta(seconds=grace)
    secret = new_secret()
    client.secrets.append(ClientSecret(digest=secret_digest(secret)))
    db.session.flush()
    return secret


def set_enabled(client: Client, enabled: bool) -> None:
    """Disable (or enable again) a client: a disabled client cannot authorize, obtain,
    refresh or use tokens. Caller commits."""
    client.enabled = enabled


__all__ = [
    "ClientError", "check_secret", "create_client", "get_client", "rotate_secret", "secret_digest",
    "set_enabled", "validate_redirect_uri",
]
