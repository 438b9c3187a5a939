"""What a FAPI 2.0 relying party sends, built here as a client library would: its key pair,
``private_key_jwt`` assertions (RFC 7523), signed request objects (RFC 9101), DPoP proofs
(RFC 9449) and pushed authorization requests (RFC 9126), against the app in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from tests.oidc_support import ISSUER, REDIRECT, consent_and_code, pkce_pair, register

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key(kid: str = "rp-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


def register_fapi(app, client_id: str = "bhxh", key: ECKey | None = None, **kwargs) -> tuple[str, ECKey]:
    """A client registered with the fapi2 profile and its key pair."""
    key = key or new_key()
    kwargs.setdefault("profile", "fapi2")
    kwargs.setdefault("token_endpoint_auth_method", "private_key_jwt")
    client_id, _ = register(app, client_id=client_id, jwks={"keys": [key.as_dict(private=False)]}, **kwargs)
    return client_id, key


def assertion(client_id: str, key, *, aud: str = ISSUER, alg: str = "ES256") -> str:
    now = int(time.time())
    return jwt.encode({"alg": alg, "kid": key.kid}, {
        "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
        "jti": secrets.token_urlsafe(12)}, key, algorithms=[alg])


def client_auth(client_id: str, key, **kwargs) -> dict[str, str]:
    return {"client_id": client_id, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client_id, key, **kwargs)}


def request_object(client_id: str, key, params: dict, *, alg: str = "ES256", header: dict | None = None,
                   **claims) -> str:
    now = int(time.time())
    body = {"iss": client_id, "aud": ISSUER, "client_id": client_id, "iat": now, "nbf": now,
            "exp": now + 300, "jti": secrets.token_urlsafe(12), **claims, **params}
    body = {k: v for k, v in body.items() if v is not None}
    head = {"alg": alg, "typ": "oauth-authz-req+jwt", "kid": key.kid, **(header or {})}
    return jwt.encode(head, body, key, algorithms=[alg])


def unsigned(claims: dict) -> str:
    """An ``alg: none`` JWT (RFC 7519 §6.1), as an attacker would send it."""
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'oauth-authz-req+jwt'})}.{part(claims)}."


def dpop_proof(key, method: str, url: str, *, access_token: str | None = None, iat: float | None = None,
               jti: str | None = None, nonce: str | None = None, alg: str = "ES256",
               typ: str = "dpop+jwt") -> str:
    claims = {"htm": method, "htu": url, "iat": int(iat if iat is not None else time.time()),
              "jti": jti or secrets.token_urlsafe(12)}
    if access_token is not None:
        claims["ath"] = base64.urlsafe_b64encode(
            hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": typ, "alg": alg, "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])


def thumbprint(key) -> str:
    return key.thumbprint()


def auth_params(**overrides) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "redirect_uri": REDIRECT, "scope": "openid profile",
              "state": "st-" + secrets.token_hex(4), "nonce": "n-" + secrets.token_hex(4),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    params["_verifier"] = verifier
    return params


def push(browser, client_id: str, key, params: dict, **auth):
    data = {k: v for k, v in params.items() if not k.startswith("_")}
    return browser.post("/par", data={**data, **client_auth(client_id, key, **auth)})


def authorize_pushed(browser, client_id: str, request_uri: str):
    return browser.get("/authorize", query_string={"client_id": client_id, "request_uri": request_uri})


def code_via_par(browser, client_id: str, key, **overrides) -> tuple[dict, str]:
    """Push, authorize (the citizen is signed in), consent: the redirect's parameters and the
    PKCE verifier."""
    params = auth_params(**overrides)
    pushed = push(browser, client_id, key, params)
    assert pushed.status_code == 201, pushed.get_json()
    response = authorize_pushed(browser, client_id, pushed.get_json()["request_uri"])
    return consent_and_code(browser, response), params["_verifier"]


def dpop_token(browser, client_id: str, key, dpop_key, code: str, verifier: str, **proof):
    return browser.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, **client_auth(client_id, key)},
        headers={"DPoP": dpop_proof(dpop_key, "POST", f"{ISSUER}/token", **proof)})


def redirect_query(response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def keyset(*keys) -> KeySet:
    return KeySet(list(keys))
