"""Signed authorization request objects (RFC 9101, JAR; OIDC Core §6.1), passed by value in
``request`` at ``/authorize`` or at ``/par``.

What RFC 9101 §10 and FAPI 2.0 Message Signing ask, checked here:
- signed by one of the client's registered keys (``jwks`` or ``jwks_uri``, as for
  ``private_key_jwt``) with an asymmetric algorithm: ``alg: none`` and MACs are refused
  (§10.1), and a ``fapi2`` client may use ES256 or PS256 only;
- ``typ``, when present, is ``oauth-authz-req+jwt`` (§4, §10.8: no other JWT of the client
  passes as a request object);
- ``iss`` is the client, ``aud`` names this server's issuer (§10.2), an inner ``client_id``
  equals the outer one (§5);
- ``exp`` is required and at most :data:`MAX_LIFETIME` seconds after ``nbf`` (or now);
  ``nbf``, when present, is not in the future nor older than that;
- ``jti`` is required and single use (:mod:`idp.oidc.tokens.replay`);
- no nested ``request`` or ``request_uri``.
The parameters are then exactly the object's (§6.3: those outside it are ignored), with the
outer ``client_id``.
"""

from __future__ import annotations

import json

from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from idp import clock
from idp.oidc.clients.authentication import ALGORITHMS, jwks_uri_cache
from idp.oidc.tokens.replay import first_use

MAX_LENGTH = 16 * 1024
MAX_LIFETIME = 3600
CLOCK_SKEW = 10
TYPES = (None, "oauth-authz-req+jwt")
#: Claims of the JWT itself, not authorization request parameters.
JWT_CLAIMS = ("iss", "aud", "exp", "nbf", "iat", "jti", "sub")


class InvalidRequestObject(OAuth2Error):
    """OIDC Core §3.1.2.6 / RFC 9101 §6.2: the request object is invalid."""

    error = "invalid_request_object"


def algorithms_for(client) -> list[str]:
    from idp.oidc.clients import fapi2

    return [a for a in ALGORITHMS if a in fapi2.ALGORITHMS] if fapi2.is_fapi2(client) else list(ALGORITHMS)


def _keyset(client, kid) -> KeySet:
    jwks = client.jwks
    try:
        if not jwks and client.jwks_uri:
            jwks = jwks_uri_cache.get(client.jwks_uri, kid=kid if isinstance(kid, str) else None)
        if not jwks:
            raise InvalidRequestObject("The client has no registered keys to sign request objects.")
        return KeySet.import_key_set(jwks)
    except InvalidClientError:
        raise InvalidRequestObject("The client's jwks_uri could not be read.") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidRequestObject("The client's registered keys are unusable.") from None


def decode(client, value: str) -> dict[str, str]:
    """The authorization request parameters ``value`` carries, or InvalidRequestObject."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH or value.count(".") != 2:
        raise InvalidRequestObject("The request object must be a signed JWT (JWS compact).")
    try:
        header = extract_compact(value.encode()).headers()
    except (JoseError, ValueError, UnicodeError):
        raise InvalidRequestObject("The request object is not a JWT.") from None
    allowed = algorithms_for(client)
    if header.get("alg") not in allowed:
        raise InvalidRequestObject(f"Request objects must be signed with one of {' '.join(allowed)}.")
    if header.get("typ") not in TYPES:
        raise InvalidRequestObject("The request object must be typed oauth-authz-req+jwt.")
    try:
        claims = jwt.decode(value, _keyset(client, header.get("kid")), algorithms=allowed).claims
    except (JoseError, ValueError, TypeError):
        raise InvalidRequestObject(
            "The request object signature does not verify with the client's keys.") from None
    _check_claims(client, claims)
    return _parameters(client, claims)


def _check_claims(client, claims: dict) -> None:
    issuer = current_app.config["IDP"].issuer
    now = clock.time()
    if claims.get("iss") != client.client_id:
        raise InvalidRequestObject("The request object's iss must be the client_id.")
    aud = claims.get("aud")
    if issuer not in ([aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []):
        raise InvalidRequestObject("The request object's aud must be this server's issuer.")
    if "client_id" in claims and claims["client_id"] != client.client_id:
        raise InvalidRequestObject("The request object's client_id differs from the request's.")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not _number(exp) or exp <= now - CLOCK_SKEW:
        raise InvalidRequestObject("The request object has expired (or has no exp).")
    if nbf is not None and (not _number(nbf) or nbf > now + CLOCK_SKEW or nbf < now - MAX_LIFETIME):
        raise InvalidRequestObject("The request object's nbf is in the future or too old.")
    if exp - (nbf if nbf is not None else now) > MAX_LIFETIME:
        raise InvalidRequestObject("The request object lives longer than 60 minutes.")
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObject("A request object cannot contain request or request_uri.")
    if not first_use("request_object", client.client_id, claims.get("jti"), exp + CLOCK_SKEW):
        raise InvalidRequestObject("The request object was already used, or has no jti.")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parameters(client, claims: dict) -> dict[str, str]:
    params = {"client_id": client.client_id}
    for name, value in claims.items():
        if name in JWT_CLAIMS or name == "client_id" or value is None:
            continue
        if isinstance(value, str):
            params[name] = value
        elif _number(value):
            params[name] = str(int(value)) if float(value).is_integer() else str(value)
        elif isinstance(value, dict | list):
            params[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            raise InvalidRequestObject(f"The request object's {name!r} has an unusable value.")
    return params
