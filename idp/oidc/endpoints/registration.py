"""OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592),
for ONE trusted onboarding system, never for the internet.

Off unless ``IDP_DYNAMIC_REGISTRATION`` is on; then ``POST /connect/register`` needs an initial access
token (RFC 7591 §3) made by ``idp clients registration-token create``, and each registered
client comes back with a registration access token and ``registration_client_uri``
(RFC 7592 §3) to ``GET``, ``PUT`` or ``DELETE`` it. Tokens are stored as SHA-256 digests.

Authlib's endpoints parse and check the request (RFC 7591 §2 metadata against the server's
metadata); the client itself is made by :func:`idp.oidc.clients.registry.create_client`, so the rules
(redirect URIs, methods, keys) are exactly those of ``idp clients create``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims, ClientRegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import current_app, request
from sqlalchemy import select

from idp.audit.log import record
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.authorization_header import bearer_token
from idp.oidc.clients import registry as service
from idp.oidc.discovery import metadata
from idp.oidc.errors import quoted
from idp.oidc.models import Client, RegistrationToken
from idp.oidc.subject import sector_of

#: Longest life of an initial access token; an onboarding campaign gets a new one.
MAX_INITIAL_TOKEN_SECONDS = 90 * 86400
MAX_BODY = 64 * 1024
#: RFC 7591 §2 names and ours; anything else a client sends is ignored (§2: "MAY ignore").
EXTRA_METADATA = ["post_logout_redirect_uris", "subject_type", "sector_identifier",
                  "sector_identifier_uri", "backchannel_logout_uri", "frontchannel_logout_uri",
                  "default_acr_values", "id_token_signed_response_alg"]


#: Scopes a registrant gets only where its initial access token allows them (or an
#: administrator grants them later with ``idp clients update --scope``): the national
#: identifier, and acting for others (an organisation's business, a child's data).
REGISTRANT_DENIED_SCOPES = frozenset({"national_id", "organization", "representation"})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enabled() -> bool:
    return bool(current_app.config["IDP"].dynamic_registration)


def create_initial_token(*, label: str, expires_in: int, actor: str, allow_scopes: list[str] = (),
                         allow_public_subject: bool = False) -> tuple[RegistrationToken, str]:
    """An initial access token for the onboarding system; the plain value is returned once.
    ``allow_scopes`` (of :data:`REGISTRANT_DENIED_SCOPES`) and ``allow_public_subject`` let the
    clients it registers get those. The caller commits."""
    if not 60 <= expires_in <= MAX_INITIAL_TOKEN_SECONDS:
        raise ValueError(f"the lifetime must be between 60 and {MAX_INITIAL_TOKEN_SECONDS} seconds")
    if not label or len(label) > 200:
        raise ValueError("give a label of at most 200 characters (who the token is for)")
    allow_scopes = list(dict.fromkeys(allow_scopes))
    if unknown := [s for s in allow_scopes if s not in REGISTRANT_DENIED_SCOPES]:
        raise ValueError(f"only {', '.join(sorted(REGISTRANT_DENIED_SCOPES))} need allowing "
                         f"(not {', '.join(unknown)})")
    value = secrets.token_urlsafe(32)
    row = RegistrationToken(digest=_digest(value), kind="initial", label=label, created_by=actor,
                            expires_at=utcnow() + timedelta(seconds=expires_in),
                            allowed_scope=" ".join(allow_scopes) or None,
                            allow_public_subject=allow_public_subject)
    db.session.add(row)
    db.session.flush()
    record("registration_token.created", actor=actor,
           details={"token": row.id, "label": label, "expires_at": row.expires_at.isoformat(),
                    "allowed_scope": row.allowed_scope, "allow_public_subject": allow_public_subject})
    return row, value


def initial_tokens() -> list[RegistrationToken]:
    """Every initial access token ever made, newest first (never their values: only digests
    are stored)."""
    return list(db.session.scalars(select(RegistrationToken).where(
        RegistrationToken.kind == "initial").order_by(RegistrationToken.id.desc())))


def token_state(row: RegistrationToken) -> str:
    """``revoked``, ``expired`` or ``live``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= utcnow():
        return "expired"
    return "live"


def revoke_initial_token(token_id: int, *, actor: str) -> RegistrationToken:
    """Stop an initial access token at once (it leaked, or onboarding is over). Clients it
    registered keep working. The caller commits."""
    row = db.session.get(RegistrationToken, token_id)
    if row is None or row.kind != "initial":
        raise ValueError(f"no initial access token with id {token_id}")
    if row.revoked_at is not None:
        raise ValueError(f"initial access token {token_id} is already revoked")
    row.revoked_at = utcnow()
    record("registration_token.revoked", actor=actor, details={"token": row.id, "label": row.label})
    return row


def _client_token(client: Client, actor: str) -> str:
    value = secrets.token_urlsafe(32)
    db.session.add(RegistrationToken(digest=_digest(value), kind="client", client_pk=client.id,
                                     created_by=actor))
    return value


def _bearer(kind: str) -> RegistrationToken:
    """The live token of ``kind`` in the Authorization header; 401 invalid_token otherwise
    (RFC 7591 §3 / RFC 7592 §3 follow RFC 6750 §3.1)."""
    value = bearer_token(request.headers.get("Authorization"))
    if value is None or len(value) > 256:
        raise InvalidTokenError(description="A registration token is required.")
    row = db.session.scalar(select(RegistrationToken).where(
        RegistrationToken.digest == _digest(value)))
    now = utcnow()
    if row is None or row.kind != kind or row.revoked_at is not None or (
            row.expires_at is not None and row.expires_at <= now):
        raise InvalidTokenError(description="The registration token is invalid or expired.")
    row.check_client = lambda client: client.id == row.client_pk  # RFC 7592 §3: one client only
    return row


class Claims(ClientMetadataClaims):
    REGISTERED_CLAIMS = ClientMetadataClaims.REGISTERED_CLAIMS + EXTRA_METADATA


def _metadata(claims: dict) -> dict:
    """RFC 7591 names → our client metadata (``client_name`` → ``name``)."""
    if claims.get("sector_identifier") is not None:
        # OIDC Core §8.1: a registrant proves its sector with a sector_identifier_uri; naming a
        # host would let it take another agency's pairwise subjects.
        raise InvalidClientMetadataError(
            description="sector_identifier cannot be registered: give a sector_identifier_uri "
                        "(OpenID Connect Core 1.0 section 8.1)")
    meta = {k: v for k, v in claims.items()
            if k in service.DEFAULTS and k not in ("name", "sector_identifier")}
    name = claims.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidClientMetadataError(description="client_name is required")
    meta["name"] = name
    grant_types = meta.get("grant_types") or service.DEFAULTS["grant_types"]
    expected = ["code"] if "authorization_code" in grant_types else []
    if "response_types" in claims and sorted(claims["response_types"] or []) != expected:
        raise InvalidClientMetadataError(description=f"response_types must be {expected}")
    return meta


def _within_initial_grant(meta: dict, token: RegistrationToken) -> None:
    """What a registrant may get (RFC 7591 §3: the server decides what it accepts): pairwise
    subjects and none of :data:`REGISTRANT_DENIED_SCOPES`, unless its initial access token
    allows them (``idp clients registration-token create --allow-scope/--allow-public-subject``)."""
    allowed = set((token.allowed_scope or "").split())
    if denied := sorted(set(str(meta.get("scope", service.DEFAULTS["scope"])).split())
                        & REGISTRANT_DENIED_SCOPES - allowed):
        raise InvalidClientMetadataError(
            description=f"scope {' '.join(denied)} is granted by an administrator only")
    if meta.get("subject_type", "pairwise") != "pairwise" and not token.allow_public_subject:
        raise InvalidClientMetadataError(
            description="subject_type public is granted by an administrator only")


def _never_wider(client: Client, meta: dict) -> None:
    """RFC 7592 §2.2 self-update: it may narrow the scope, never widen it or the subject type."""
    if wider := [s for s in str(meta.get("scope") or "").split() if s not in client.scope.split()]:
        raise InvalidClientMetadataError(
            description=f"an update cannot add scopes ({' '.join(wider)}); ask the administrator")
    if meta.get("subject_type") != client.subject_type and meta.get("subject_type") == "public":
        raise InvalidClientMetadataError(
            description="an update cannot make the subject type public; ask the administrator")


def _refuse(exc: service.ClientError):
    # OIDC Registration §3.3; a sector refusal (OIDC Core §8.1) is about the metadata as a whole.
    if "redirect URI" in str(exc) and "sector" not in str(exc):
        return InvalidRedirectURIError(description=quoted(str(exc), 512))
    return InvalidClientMetadataError(description=quoted(str(exc), 512))


def _body(client: Client, *, access_token: str, secret: str | None = None) -> dict:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the client's metadata with its registration info."""
    body = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "registration_access_token": access_token,
        "registration_client_uri": f"{current_app.config['IDP'].issuer}/connect/register/{client.client_id}",
    }
    for field, value in service.metadata_of(client).items():
        # sector_identifier is the administrator's (OIDC Core §8.1): not echoed, so a client
        # that PUTs back what it read (RFC 7592 §2.2) does not send it.
        if field not in ("name", "agency", "sector_identifier") and value not in (None, []):
            body[field] = value
    body["response_types"] = list(client.response_types)
    if secret is not None:
        body["client_secret"] = secret
    if client.token_endpoint_auth_method in service.SECRET_METHODS:
        body["client_secret_expires_at"] = 0
    return body


def _actor(token: RegistrationToken) -> str:
    return f"registration:{token.id}"


class RegistrationEndpoint(ClientRegistrationEndpoint):
    """RFC 7591 §3.1 at ``POST /connect/register``."""

    def __init__(self, server=None):
        super().__init__(server, claims_classes=[Claims])

    def authenticate_token(self, req):
        return _bearer("initial")

    def get_server_metadata(self):
        return metadata()

    def create_registration_response(self, req):
        token = self.authenticate_token(req)
        req.credential = token
        meta = _metadata(self.extract_client_metadata(req))
        _within_initial_grant(meta, token)
        try:
            client, secret = service.create_client(**meta)
        except service.ClientError as exc:
            raise _refuse(exc) from None
        record("client.registered", actor=_actor(token), client_id=client.client_id,
               details={"auth_method": client.token_endpoint_auth_method, "label": token.label})
        access = _client_token(client, _actor(token))
        return 201, _body(client, access_token=access, secret=secret), [
            ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class ConfigurationEndpoint(ClientConfigurationEndpoint):
    """RFC 7592 §2 at ``GET``/``PUT``/``DELETE /connect/register/<client_id>``."""

    def __init__(self, server=None):
        super().__init__(server, claims_classes=[Claims])

    def authenticate_token(self, req):
        """RFC 7592 §2: a registration access token is good for its own client only; for any
        other (or a deleted one) it is an invalid token, 401 as RFC 6750 §3.1 says."""
        token = _bearer("client")
        client = service.find_client(request.view_args.get("client_id", ""))
        if client is None or token.client_pk != client.id:
            raise InvalidTokenError(description="The registration token is invalid or expired.")
        return token

    def authenticate_client(self, req):
        return service.find_client(request.view_args.get("client_id", ""))

    def revoke_access_token(self, req, token):
        token.revoked_at = utcnow()
        db.session.commit()

    def check_permission(self, client, req):
        return True

    def get_server_metadata(self):
        return metadata()

    def _presented(self) -> str:
        return bearer_token(request.headers.get("Authorization"))

    def create_read_client_response(self, client, req):
        return 200, _body(client, access_token=self._presented()), [
            ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    def update_client(self, client, client_metadata, req):
        # RFC 7592 §2.2: the request replaces every field; an omitted one returns to its default,
        # except what only an administrator sets (scope, subject type, sector), which is kept.
        meta = {k: v for k, v in service.DEFAULTS.items() if k not in ("agency", "sector_identifier")}
        meta.update(scope=client.scope, subject_type=client.subject_type)
        meta.update(_metadata(client_metadata))
        _never_wider(client, meta)
        sector = sector_of(client)
        try:
            changed, _secret = service.update_client(client, **meta, sector_identifier=None)
        except service.ClientError as exc:
            raise _refuse(exc) from None
        if client.subject_type == "pairwise" and sector_of(client) != sector:
            # The caller rolls the update back (_respond): nothing is stored.
            raise InvalidClientMetadataError(
                description="this update would move the client to another pairwise sector "
                            f"({sector_of(client)} instead of {sector}); only an administrator can")
        record("client.updated", actor=_actor(req.credential), client_id=client.client_id,
               details={"changed": changed})
        return client

    def delete_client(self, client, req):
        record("client.deleted", actor=_actor(req.credential), client_id=client.client_id)
        for row in db.session.scalars(select(RegistrationToken).where(
                RegistrationToken.client_pk == client.id)):
            db.session.delete(row)
        service.delete_client(client)

    def generate_client_registration_info(self, client, req):
        return {}


__all__ = ["ConfigurationEndpoint", "RegistrationEndpoint", "create_initial_token", "enabled"]
