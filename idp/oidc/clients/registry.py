"""Registering and managing relying-party clients (OIDC Dynamic Client Registration 1.0 §2
metadata, registered by an administrator).

Client secrets (digests only, rotation with a grace period) are :mod:`idp.oidc.clients.secrets`.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, g
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.orm import joinedload

from idp.auth import assurance
from idp.auth.models import SessionClient
from idp.db import db
from idp.db.types import utcnow
from idp.keys.service import GENERATORS
from idp.oidc.clients import fapi2
from idp.oidc.clients.attached import cached_client
from idp.oidc.clients.mixin import OAuthClientMixin
from idp.oidc.clients.record_cache import cache_of
from idp.oidc.clients.secrets import is_live, new_secret, secret_digest
from idp.oidc.clients.sector import sector_for
from idp.oidc.models import (
    AuthorizationCode,
    Client,
    ClientSecret,
    Consent,
    LogoutDelivery,
    PendingAuthorization,
    PushedAuthorizationRequest,
    RefreshToken,
    RefreshTokenFamily,
    RegistrationToken,
    RevokedAccessToken,
    TokenExchangePolicy,
    UsedClientAssertion,
)
from idp.oidc.scopes import SCOPES, SERVICE_SCOPES
from idp.oidc.subject import locked_subject
from idp.outbound import OutboundRefused, check_target

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials",
               "urn:ietf:params:oauth:grant-type:token-exchange", "urn:openid:params:grant-type:ciba")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")


class ClientError(ValueError):
    """Registration metadata that cannot be accepted; the message says which and why."""


def new_client_id() -> str:
    """128 random bits in URL-safe base64 that never begin with ``-``: administrators pass
    client ids to ``idp clients show ID``, where a leading dash reads as an option."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if not client_id.startswith("-"):
            return client_id


def validate_redirect_uri(uri: str, what: str = "redirect URI") -> str:
    """OIDC Registration §2 / RFC 9700 §2.1: absolute https URIs (http only on loopback),
    no fragment (RFC 6749 §3.1.2), no wildcards: compared later by exact string."""
    if not uri or len(uri) > 1000 or any(c.isspace() for c in uri):
        raise ClientError(f"{what} {uri!r} is empty, too long or contains spaces")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientError(f"{what} {uri!r} must not contain a fragment")
    if "*" in uri:
        raise ClientError(f"{what} {uri!r} must not contain wildcards")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return uri
    raise ClientError(f"{what} {uri!r} must be https (http only on 127.0.0.1 / localhost)")


#: Metadata an administrator (or the trusted onboarding system) may set, with defaults.
DEFAULTS: dict = {
    "name": None, "redirect_uris": [], "post_logout_redirect_uris": [],
    "token_endpoint_auth_method": "client_secret_basic",
    "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile",
    "subject_type": "pairwise", "sector_identifier": None, "sector_identifier_uri": None,
    "id_token_signed_response_alg": None,
    "jwks": None, "jwks_uri": None, "logo_uri": None, "agency": None, "contacts": [],
    "backchannel_logout_uri": None, "backchannel_logout_session_required": False,
    "frontchannel_logout_uri": None, "frontchannel_logout_session_required": False,
    "default_acr_values": [],
    "profile": None, "require_pushed_authorization_requests": False,
    "dpop_bound_access_tokens": False,
}
MAX_LIST = 20


PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
MAX_JWKS_KEYS = 10


def check_public_jwks(jwks) -> dict:
    """A JWK Set of public keys only (RFC 7517 §5): a client registering its private key (or a
    symmetric one) has leaked it. Raises ValueError."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValueError("a JWK Set needs a non-empty 'keys' list")
    if len(jwks["keys"]) > MAX_JWKS_KEYS:
        raise ValueError(f"at most {MAX_JWKS_KEYS} keys")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or any(m in key for m in PRIVATE_MEMBERS):
            raise ValueError("only public keys may be registered (a private or symmetric key was given)")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the keys cannot be read ({exc.__class__.__name__})") from None
    return {"keys": [dict(k) for k in jwks["keys"]]}


def _https_uri(field: str, uri: str | None, *, loopback: bool = True) -> str | None:
    """An absolute https URI without fragment (http allowed on loopback for development)."""
    if uri is None or uri == "":
        return None
    if not isinstance(uri, str) or len(uri) > 1000 or any(c.isspace() for c in uri):
        raise ClientError(f"{field} {uri!r} is too long or contains spaces")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientError(f"{field} {uri!r} must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if loopback and parts.scheme == "http" and parts.hostname in LOOPBACK:
        return uri
    raise ClientError(f"{field} {uri!r} must be an https URI")


def _server_fetched(field: str, uri: str | None) -> None:
    """A URI this server itself requests must not point into private networks (SSRF; see
    :mod:`idp.outbound`, which checks again, after resolving the name, at every request)."""
    if uri:
        try:
            check_target(uri, field)
        except OutboundRefused as exc:
            raise ClientError(str(exc)) from None


def _str_list(field: str, value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) > MAX_LIST or \
            not all(isinstance(v, str) and 0 < len(v) <= 1000 for v in value):
        raise ClientError(f"{field} must be a list of at most {MAX_LIST} strings")
    return list(dict.fromkeys(value))


def validate_metadata(meta: dict, given: dict | None = None) -> dict:
    """Check a client's complete registration metadata; returns it normalised. ``given``: what
    the caller set explicitly (default: all of ``meta``), for the rules that tell a choice from a
    stored value (an update to the fapi2 profile turns PAR and DPoP on unless refused there).

    The one place the rules live, so ``idp clients create/update``, the demo loader and
    dynamic registration (RFC 7591 §2) accept exactly the same clients. Raises ClientError.
    """
    given = meta if given is None else given
    unknown = set(meta) - set(DEFAULTS)
    if unknown:
        raise ClientError(f"unknown client metadata: {', '.join(sorted(unknown))}")
    if meta.get("profile") == fapi2.PROFILE and meta.get("token_endpoint_auth_method") is None:
        meta = {**meta, "token_endpoint_auth_method": "private_key_jwt"}
    out = {**DEFAULTS, **meta}
    name = out["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ClientError("the client needs a name of at most 200 characters")
    out["name"] = name.strip()
    method = out["token_endpoint_auth_method"]
    if method not in AUTH_METHODS:
        raise ClientError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    grant_types = _str_list("grant_types", out["grant_types"]) or ["authorization_code"]
    if unknown := set(grant_types) - set(GRANT_TYPES):
        raise ClientError(f"unsupported grant types: {', '.join(sorted(unknown))}")
    out["grant_types"] = grant_types
    if method == "none" and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials (RFC 6749 §4.4)")
    if method == "none" and "urn:openid:params:grant-type:ciba" in grant_types:
        raise ClientError("a public client cannot use CIBA (CIBA Core §4: confidential clients)")
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        out[field] = [validate_redirect_uri(u) for u in _str_list(field, out[field])]
    if "authorization_code" in grant_types and not out["redirect_uris"]:
        raise ClientError("the authorization_code grant needs at least one redirect URI")
    scope = out["scope"] if isinstance(out["scope"], str) else ""
    if not scope.split() or len(scope) > 1000:
        raise ClientError("scope must name at least one scope")
    if unknown := set(scope.split()) - set(SCOPES) - set(SERVICE_SCOPES):
        raise ClientError(f"unknown scopes: {', '.join(sorted(unknown))}")
    out["scope"] = " ".join(dict.fromkeys(scope.split()))
    if out["subject_type"] not in ("pairwise", "public"):
        raise ClientError("subject_type must be pairwise or public")
    sector = out["sector_identifier"]
    if sector is not None and (not isinstance(sector, str) or not _HOST.fullmatch(sector)):
        raise ClientError(f"sector identifier {sector!r} must be a host name")
    alg = out["id_token_signed_response_alg"]
    if alg and alg not in GENERATORS:
        raise ClientError(f"id_token_signed_response_alg must be one of {', '.join(GENERATORS)}")
    if out["jwks"] is not None and out["jwks_uri"]:
        raise ClientError("give jwks or jwks_uri, not both (RFC 7591 §2)")
    if out["jwks"] is not None:
        try:
            out["jwks"] = check_public_jwks(out["jwks"])
        except ValueError as exc:
            raise ClientError(f"jwks: {exc}") from None
    # URIs this server fetches itself (jwks_uri, back-channel logout) must not reach services on
    # its own host: http on loopback only on a development server (an http issuer).
    server_side_loopback = current_app.config["IDP"].issuer.startswith("http://")
    out["jwks_uri"] = _https_uri("jwks_uri", out["jwks_uri"], loopback=server_side_loopback)
    if method == "private_key_jwt" and not (out["jwks"] or out["jwks_uri"]):
        raise ClientError("private_key_jwt needs the client's public keys (jwks or jwks_uri)")
    out["backchannel_logout_uri"] = _https_uri("backchannel_logout_uri", out["backchannel_logout_uri"],
                                               loopback=server_side_loopback)
    out["sector_identifier_uri"] = _https_uri("sector_identifier_uri", out["sector_identifier_uri"],
                                              loopback=server_side_loopback)
    for field in ("jwks_uri", "backchannel_logout_uri", "sector_identifier_uri"):
        _server_fetched(field, out[field])
    for field in ("logo_uri", "frontchannel_logout_uri"):
        out[field] = _https_uri(field, out[field])
    contacts = _str_list("contacts", out["contacts"])
    for contact in contacts:
        if "@" not in contact or len(contact) > 254 or any(c.isspace() for c in contact):
            raise ClientError(f"contact {contact!r} is not an email address")
    out["contacts"] = contacts
    out["default_acr_values"] = _str_list("default_acr_values", out["default_acr_values"])
    # OIDC Registration §2; here a minimum that always applies (idp.auth.assurance).
    if unknown := [v for v in out["default_acr_values"] if assurance.resolve(v) is None]:
        raise ClientError(f"unknown acr values: {', '.join(unknown)} (see acr_values_supported)")
    for field in ("backchannel_logout_session_required", "frontchannel_logout_session_required",
                  "require_pushed_authorization_requests", "dpop_bound_access_tokens"):
        if not isinstance(out[field], bool):
            raise ClientError(f"{field} must be true or false")
    agency = out["agency"]
    if agency is not None and (not isinstance(agency, str) or len(agency) > 200):
        raise ClientError("agency must be at most 200 characters")
    fapi2.apply(out, given, ClientError)
    if out["subject_type"] == "pairwise":
        # OIDC Core §8.1: last, as it may fetch the sector_identifier_uri.
        try:
            out["sector_identifier"] = sector_for(out)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
    return out


def _apply(client: Client, meta: dict) -> None:
    for field, value in meta.items():
        setattr(client, field, value)
    client.response_types = ["code"] if "authorization_code" in meta["grant_types"] else []


def metadata_of(client: Client) -> dict:
    """The client's current registration metadata (what :func:`validate_metadata` takes)."""
    return {field: getattr(client, field) for field in DEFAULTS}


def create_client(*, client_id: str | None = None, **metadata) -> tuple[Client, str | None]:
    """Register a client; returns it and its plain secret (None for public and
    ``private_key_jwt`` clients). Metadata keys are those of :data:`DEFAULTS` (plus
    ``default_acr_values``...). Raises ClientError. The caller commits."""
    meta = validate_metadata(metadata)
    if client_id is not None and (not _CLIENT_ID.fullmatch(client_id)):
        raise ClientError("client_id must be 1-64 letters, digits, '.', '_' or '-'")
    if client_id is not None and db.session.scalar(select(Client.id).where(Client.client_id == client_id)):
        raise ClientError(f"a client with id {client_id!r} already exists")
    client = Client(client_id=client_id or new_client_id())
    _apply(client, meta)
    db.session.add(client)
    secret = None
    if meta["token_endpoint_auth_method"] in SECRET_METHODS:
        secret = new_secret()
        client.secrets.append(ClientSecret(digest=secret_digest(secret)))
    db.session.flush()
    return client, secret


def update_client(client: Client, **changes) -> tuple[list[str], str | None]:
    """Change some of a client's metadata; the whole result is validated again.

    Returns the names of the fields that changed and, when the client moves to a secret-based
    method without a live secret, its new secret (shown once). Raises ClientError. Caller commits.
    """
    meta = validate_metadata({**metadata_of(client), **changes}, given=changes)
    changed = [f for f in DEFAULTS if meta[f] != getattr(client, f)]
    _apply(client, meta)
    secret = None
    if meta["token_endpoint_auth_method"] in SECRET_METHODS:
        now = utcnow()
        if not any(is_live(r, now) for r in client.secrets):
            secret = new_secret()
            client.secrets.append(ClientSecret(digest=secret_digest(secret)))
    else:
        client.secrets.clear()
    db.session.flush()
    return changed, secret


def find_client(client_id: str) -> Client | None:
    """The client with this id, enabled or not (administration)."""
    if not client_id or len(client_id) > 64:
        return None
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def list_clients() -> list[Client]:
    return list(db.session.scalars(select(Client).order_by(Client.created_at, Client.id)))


def delete_client(client: Client) -> None:
    """Delete a client with everything issued to it: consents, codes, pending requests,
    refresh-token families, sessions' memberships, registration tokens, pending back-channel
    logout deliveries, token-exchange permissions from and to it. Deleted explicitly,
    not left to ``ON DELETE CASCADE``: SQLite does not enforce it and may hand the freed row id
    to the next client, which would inherit the rows. Access tokens still held fail validation
    (no such client; and one registered later under the same id is younger than them, see
    :class:`idp.oidc.tokens.access.AccessTokenValidator`). Caller commits."""
    pk = client.id
    families = select(RefreshTokenFamily.id).where(RefreshTokenFamily.client_pk == pk)
    db.session.execute(delete(RefreshToken).where(RefreshToken.family_id.in_(families)))
    db.session.execute(delete(AuthorizationCode).where(AuthorizationCode.client_pk == pk))
    for model in (RefreshTokenFamily, Consent, PendingAuthorization, UsedClientAssertion,
                  RegistrationToken, LogoutDelivery, PushedAuthorizationRequest):
        db.session.execute(delete(model).where(model.client_pk == pk))
    db.session.execute(delete(TokenExchangePolicy).where(
        (TokenExchangePolicy.client_pk == pk) | (TokenExchangePolicy.audience_pk == pk)))
    db.session.execute(delete(SessionClient).where(SessionClient.client_id == pk))
    db.session.delete(client)
    db.session.flush()


def describe(client: Client) -> dict:
    """The client as admin commands print it (never a secret, only how many are live)."""
    now = utcnow()
    live = [r for r in client.secrets if is_live(r, now)]
    return {
        "client_id": client.client_id, "enabled": client.enabled, **metadata_of(client),
        "response_types": list(client.response_types),
        "live_secrets": len(live),
        "secret_expires_at": [r.expires_at.isoformat(timespec="seconds") for r in live if r.expires_at],
        "created_at": client.created_at.isoformat(timespec="seconds") if client.created_at else None,
    }


def get_client(client_id: str | None) -> Client | None:
    """The enabled client with this id, or None. Memoised per request: Authlib asks for the
    same client once per authentication method it tries."""
    if not _possible_id(client_id):
        return None
    memo = g.setdefault("idp_clients", {})
    if client_id not in memo:
        memo[client_id] = _enabled_by_id(client_id)
    return memo[client_id]


def registered_client(client_id: str | None) -> Client | None:
    """The enabled client with this id, or None, without its secrets: for the authorization
    endpoint, which never authenticates the client (loading the secrets cost as much as the
    client). The same answer as :func:`get_client`."""
    if not _possible_id(client_id):
        return None
    return _enabled_by_id(client_id, with_secrets=False)


def _enabled_by_id(client_id: str, *, with_secrets: bool = True) -> Client | None:
    """From the client cache (:mod:`idp.oidc.clients.attached`), or read through the ORM when
    the cache cannot say; its secrets loaded with it or left to load lazily."""
    client = cached_client(client_id, with_secrets=with_secrets)
    if client is False:
        statement = _CLIENT_AND_SECRETS_BY_ID if with_secrets else _CLIENT_BY_ID
        client = db.session.execute(statement, {"client_id": client_id}).unique().scalar()
    return _enabled(client)


def _possible_id(client_id) -> bool:
    """Only the shape :func:`create_client` allows is looked up: a form field or header
    with odd characters (a NUL byte, which PostgreSQL refuses in a query) is simply unknown."""
    return isinstance(client_id, str) and _CLIENT_ID.fullmatch(client_id) is not None


def _enabled(client):
    return client if client is not None and client.enabled else None


#: Built once so SQLAlchemy reuses their cache keys. The client and its secrets in one query
#: for client authentication (every token, introspection and revocation request); the client
#: alone for the authorization endpoint.
_CLIENT_AND_SECRETS_BY_ID = (select(Client).options(joinedload(Client.secrets))
                             .where(Client.client_id == bindparam("client_id")))
_CLIENT_BY_ID = select(Client).where(Client.client_id == bindparam("client_id"))


class ClientRecord(OAuthClientMixin):
    """What authenticating a client and issuing it a client_credentials token need, read as
    plain rows: the paths answered before Flask (:mod:`idp.fastpath`) use it where building an
    ORM :class:`Client` would cost more than the rest of the request. It answers Authlib's
    client questions with the same :class:`OAuthClientMixin` rules as the ORM object.

    ``token_revoked`` and ``subject_locked``: read in the same query when a presented access
    token is given (introspection), so the lookups every introspection needs cost one round
    trip (none when :mod:`~idp.oidc.clients.record_cache` holds both): the same two answers as
    :func:`token_standing`.
    """

    __slots__ = ("id", "client_id", "enabled", "token_endpoint_auth_method", "scope",
                 "grant_types", "created_at", "dpop_bound_access_tokens", "secrets", "token_revoked",
                 "subject_locked")
    COLUMNS = __slots__[:-3]

    def __init__(self, row, secrets: list, token_revoked: bool | None = None,
                 subject_locked: bool | None = None) -> None:
        for name in self.COLUMNS:
            setattr(self, name, getattr(row, name))
        self.secrets = secrets
        self.token_revoked = token_revoked
        self.subject_locked = subject_locked

    def with_standing(self, token_revoked: bool, subject_locked: bool) -> ClientRecord:
        """A copy of this (cached, shared) record carrying a presented token's standing."""
        return ClientRecord(self, self.secrets, token_revoked, subject_locked)


_CLIENTS, _SECRETS = Client.__table__, ClientSecret.__table__
_CLIENT_RECORD = (
    select(*(_CLIENTS.c[name] for name in ClientRecord.COLUMNS),
           _SECRETS.c.digest, _SECRETS.c.expires_at)
    .select_from(_CLIENTS.outerjoin(_SECRETS, _SECRETS.c.client_pk == _CLIENTS.c.id))
    .where(_CLIENTS.c.client_id == bindparam("client_id")))
_REVOKED = RevokedAccessToken.__table__
#: A presented access token's standing: revoked (a primary-key lookup), its account locked.
_STANDING = (exists().where(_REVOKED.c.jti == bindparam("jti")).label("token_revoked"),
             locked_subject(bindparam("sub"), bindparam("now")).label("subject_locked"))
_TOKEN_STATE = select(*_STANDING)
_CLIENT_RECORD_AND_TOKEN_STATE = _CLIENT_RECORD.add_columns(*_STANDING)


def client_record(connection, client_id: str | None, *, jti: str | None = None,
                  sub: str | None = None) -> ClientRecord | None:
    """The enabled client with this id as a :class:`ClientRecord` (one query on
    ``connection``, none when :mod:`~idp.oidc.clients.record_cache` holds what it needs), or
    None: the same answer as :func:`get_client`. With a presented access token's ``jti`` and
    ``sub``, whether it was revoked and whether its citizen's account is locked come with it."""
    if not _possible_id(client_id):
        return None
    cache = cache_of(current_app)
    if cache is None:
        read = _read(connection, client_id, jti, sub)
        return None if read is None else ClientRecord(*read)
    cache.refresh()
    generation = cache.generation
    cached = cache.get(client_id)  # a record without a token's standing, shared: never changed
    if cached is not None:
        if jti is None:
            return cached
        return cached.with_standing(*_standing(cache, generation, connection, jti, sub or ""))
    read = _read(connection, client_id, jti, sub)
    if read is None:
        return None
    cache.put(client_id, ClientRecord(*read[:2]), generation)
    record = ClientRecord(*read)
    if jti is not None and not (record.token_revoked or record.subject_locked):
        cache.put_token_in_good_standing(jti, sub or "", generation)
    return record


def token_standing(connection, jti: str, sub: str) -> tuple[bool, bool]:
    """Whether a presented access token was revoked and whether its citizen's account is
    locked, as committed by any node: from :mod:`~idp.oidc.clients.record_cache` when it holds
    the token in good standing, else read on ``connection`` (one query) and kept there when
    good. Introspection gets the same two answers with its client (:func:`client_record`)."""
    cache = cache_of(current_app)
    if cache is None:
        return _read_standing(connection, jti, sub)
    cache.refresh()
    return _standing(cache, cache.generation, connection, jti, sub)


def _standing(cache, generation, connection, jti: str, sub: str) -> tuple[bool, bool]:
    """:func:`token_standing` on a cache already refreshed, ``generation`` taken before any
    read (a change heard since wins)."""
    if cache.token_in_good_standing(jti, sub):
        return False, False
    revoked, locked = _read_standing(connection, jti, sub)
    if not (revoked or locked):
        cache.put_token_in_good_standing(jti, sub, generation)
    return revoked, locked


def _read_standing(connection, jti: str, sub: str) -> tuple[bool, bool]:
    state = connection.execute(_TOKEN_STATE, {"jti": jti, "sub": sub, "now": utcnow()}).one()
    return bool(state.token_revoked), bool(state.subject_locked)


def _read(connection, client_id: str, jti: str | None, sub: str | None) -> tuple | None:
    """(client row, its secrets' rows, token revoked, subject locked) from the database."""
    if jti is None:
        rows = connection.execute(_CLIENT_RECORD, {"client_id": client_id}).all()
    else:
        rows = connection.execute(_CLIENT_RECORD_AND_TOKEN_STATE, {
            "client_id": client_id, "jti": jti, "sub": sub or "", "now": utcnow()}).all()
    if not _enabled(rows[0] if rows else None):
        return None
    return (rows[0], [row for row in rows if row.digest is not None],
            None if jti is None else bool(rows[0].token_revoked),
            None if jti is None else bool(rows[0].subject_locked))


def rotate_secret(client: Client, *, grace_seconds: int | None = None) -> str:
    """Issue a new secret; older live ones expire after the grace period. Caller commits."""
    grace = current_app.config["IDP"].client_secret_grace if grace_seconds is None else grace_seconds
    now = utcnow()
    for row in client.secrets:
        if is_live(row, now + timedelta(seconds=grace)):
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
    "AUTH_METHODS", "GRANT_TYPES", "ClientError", "ClientRecord", "client_record",
    "create_client", "delete_client", "describe", "find_client", "get_client", "list_clients",
    "metadata_of", "registered_client", "rotate_secret", "secret_digest", "set_enabled",
    "update_client", "validate_metadata", "validate_redirect_uri",
]
