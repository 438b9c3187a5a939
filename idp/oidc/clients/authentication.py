"""Client authentication with ``private_key_jwt`` (RFC 7523 §2.2 and §3; OIDC Core §9).

Authlib's ``JWTBearerClientAssertion`` checks the signature against the client's registered
keys, ``iss`` = ``sub`` = client_id and ``exp``; here we add what it leaves to us:
- ``aud`` must name this server (its issuer, or the URL of the endpoint being called);
- ``jti`` is single-use (RFC 7523 §3 item 7): replays are refused, also across nodes, through a
  unique row in the database, kept until ``exp`` + :data:`LEEWAY` (as long as the assertion
  itself is accepted);
- assertions live at most :data:`MAX_LIFETIME` seconds, so the replay table stays small;
- a client registered with ``jwks_uri`` instead of ``jwks`` (OIDC Registration §2) has its key
  set fetched over https with a short timeout (:data:`JWKS_FETCH_TIMEOUT`), at most
  :data:`JWKS_MAX_BYTES`, and cached per process for :data:`JWKS_CACHE_SECONDS` in a cache of
  at most :data:`JWKS_CACHE_ENTRIES` URIs. An assertion signed by a ``kid`` the cached set lacks
  (the client rotated its key) refetches, at most once per :data:`JWKS_REFETCH_SECONDS`. A
  fetch that fails is a clean ``invalid_client``, never a hang or a 500.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app, g, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp import outbound
from idp.algorithms import SIGNING_ALGS
from idp.db import db
from idp.oidc.clients.registry import check_public_jwks, get_client
from idp.oidc.models import UsedClientAssertion

MAX_LIFETIME = 7200  # client libraries commonly sign for an hour (Authlib: 3600 s)
#: Clock skew allowed on ``exp``: an assertion is accepted up to this many seconds after it
#: expired, so its ``jti`` is remembered (purge rule ``used_client_assertions``) that much longer.
LEEWAY = 30
ALGORITHMS = list(SIGNING_ALGS)

JWKS_FETCH_TIMEOUT = 3.0
JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_SECONDS = 300
JWKS_CACHE_ENTRIES = 256
JWKS_REFETCH_SECONDS = 10


class JwksUriCache:
    """Key sets fetched from clients' ``jwks_uri``: a small LRU with an expiry per entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()

    def get(self, uri: str, *, kid: str | None = None) -> dict:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(uri)
        if cached is not None:
            fetched_at, jwks = cached
            fresh = now - fetched_at < JWKS_CACHE_SECONDS
            has_kid = kid is None or any(k.get("kid") == kid for k in jwks.get("keys", []))
            if fresh and (has_kid or now - fetched_at < JWKS_REFETCH_SECONDS):
                return jwks
        jwks = fetch_jwks(uri)
        with self._lock:
            self._entries[uri] = (now, jwks)
            self._entries.move_to_end(uri)
            while len(self._entries) > JWKS_CACHE_ENTRIES:
                self._entries.popitem(last=False)
        return jwks

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def fetch_jwks(uri: str) -> dict:
    """GET the client's JWK Set through :mod:`idp.outbound` (no private targets, no redirects);
    InvalidClientError on any failure."""
    try:
        response = outbound.request("GET", uri, timeout=JWKS_FETCH_TIMEOUT, max_bytes=JWKS_MAX_BYTES,
                           headers={"Accept": "application/jwk-set+json, application/json"})
        if response.status != 200:
            raise ValueError(f"status {response.status}")
        return check_public_jwks(json.loads(response.body))
    except (outbound.OutboundError, outbound.OutboundRefused, ValueError, UnicodeDecodeError) as exc:
        raise InvalidClientError(description="The client's jwks_uri could not be read.") from exc


jwks_uri_cache = JwksUriCache()


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self):
        super().__init__(validate_jti=True, leeway=LEEWAY)

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["IDP"].issuer
        return [issuer, f"{issuer}/token", f"{issuer}{request.path}"]

    def extract_assertion(self, assertion):
        headers, claims = super().extract_assertion(assertion)
        # Remembered so a jwks_uri client's rotated key (a new kid) triggers a refetch.
        g.idp_assertion_kid = headers.get("kid") if isinstance(headers.get("kid"), str) else None
        return headers, claims

    def resolve_client_public_key(self, client):
        jwks = client.jwks
        if not jwks and client.jwks_uri:
            jwks = jwks_uri_cache.get(client.jwks_uri, kid=g.get("idp_assertion_kid"))
        if not jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        try:
            return KeySet.import_key_set(jwks)
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
        # Expired jti rows go with `idp maintenance purge` (and its periodic run), not here:
        # no extra write on every authentication.
        client = self.server_client(claims["sub"])
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
