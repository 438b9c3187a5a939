"""Client authentication with ``private_key_jwt`` (RFC 7523 §2.2 and §3; OIDC Core §9).

Authlib's ``JWTBearerClientAssertion`` checks the signature against the client's registered
keys, ``iss`` = ``sub`` = client_id and ``exp``; here we add what it leaves to us:
- ``aud`` must name this server (its issuer, or the URL of the endpoint being called);
- ``jti`` is single-use (RFC 7523 §3 item 7): replays are refused, also across nodes, through a
  unique row in the database;
- assertions live at most :data:`MAX_LIFETIME` seconds, so the replay table stays small.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from idp.db import db
from idp.db.types import utcnow
from idp.oidc.clients import get_client
from idp.oidc.models import UsedClientAssertion

MAX_LIFETIME = 7200  # client libraries commonly sign for an hour (Authlib: 3600 s)
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self):
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["IDP"].issuer
        return [issuer, f"{issuer}/token", f"{issuer}{request.path}"]

    def resolve_client_public_key(self, client):
        if not client.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        try:
            return KeySet.import_key_set(client.jwks)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClientError(description="The client's registered keys are unusable.") from exc

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion signature is invalid.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims):
        super().verify_claims(claims)
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp - time.time() > MAX_LIFETIME:
            raise InvalidClientError(description="The client assertion lives too long.")

    def validate_jti(self, claims, jti) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        client = self.server_client(claims["sub"])
        now = utcnow()
        db.session.execute(delete(UsedClientAssertion).where(
            UsedClientAssertion.client_pk == client.id, UsedClientAssertion.expires_at < now))
        row = UsedClientAssertion(client_pk=client.id,
                                  jti_digest=hashlib.sha256(jti.encode()).hexdigest(),
                                  expires_at=datetime.fromtimestamp(claims["exp"], UTC))
        # Committed at once: a replay must be refused even if this request fails later.
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    @staticmethod
    def server_client(client_id):
        return get_client(client_id)
