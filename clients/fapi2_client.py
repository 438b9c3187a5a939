"""The FAPI 2.0 side of a sample relying party (``clients/agency``): what a high-assurance
client sends, in plain ``requests`` + joserfc so every step is visible.

- its signing key (ES256) is generated at first start into ``RP_KEY_FILE`` (0600) and
  published at ``/jwks.json``: idp is registered with that ``jwks_uri``
  (``idp clients create --profile fapi2 --jwks-uri ...``);
- authorization requests are pushed to ``/par`` (RFC 9126) with PKCE S256 and a nonce, the
  client authenticated with ``private_key_jwt`` (RFC 7523);
- the code is exchanged with a DPoP proof (RFC 9449), so the access token is bound to a key
  only this process holds; UserInfo is called with ``Authorization: DPoP`` and a proof carrying
  the token's hash (``ath``); a ``use_dpop_nonce`` answer is retried with the server's nonce;
- the authorization response's ``iss`` (RFC 9207) and the ID token (signature, iss, aud, exp,
  nonce) are checked before anything is trusted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_or_create_key(path: Path) -> ECKey:
    """The client's private key, generated (ES256, P-256) and saved 0600 the first time."""
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    key = ECKey.generate_key("P-256", parameters={"kid": f"agency-{int(time.time())}", "alg": "ES256",
                                                  "use": "sig"})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(key.as_dict(private=True), handle)
    return key


class FapiError(Exception):
    """A step of the flow failed; the message says which."""


class Fapi2Client:
    def __init__(self, *, issuer: str, client_id: str, key: ECKey, metadata):
        self.issuer = issuer
        self.client_id = client_id
        self.key = key
        self.metadata = metadata  # callable: the provider's discovery document
        # The DPoP key lives only in this process's memory (RFC 9449 §2: the token is useless
        # to whoever copies it without this key).
        self.dpop_key = ECKey.generate_key("P-256")
        self.dpop_nonce: str | None = None

    def public_jwks(self) -> dict:
        return {"keys": [self.key.as_dict(private=False)]}

    def _assertion(self) -> dict[str, str]:
        now = int(time.time())
        token = jwt.encode({"alg": "ES256", "kid": self.key.kid}, {
            "iss": self.client_id, "sub": self.client_id, "aud": self.issuer, "iat": now,
            "exp": now + 60, "jti": secrets.token_urlsafe(16)}, self.key, algorithms=["ES256"])
        return {"client_id": self.client_id, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": token}

    def _proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims = {"htm": method, "htu": url, "iat": int(time.time()), "jti": secrets.token_urlsafe(16)}
        if access_token:
            claims["ath"] = _b64(hashlib.sha256(access_token.encode()).digest())
        if self.dpop_nonce:
            claims["nonce"] = self.dpop_nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.dpop_key.as_dict(private=False)}
        return jws.serialize_compact(header, json.dumps(claims).encode(), self.dpop_key, algorithms=["ES256"])

    def _with_dpop(self, send, method: str, url: str, access_token: str | None = None):
        """Send with a proof; once more with the server's nonce if it asks (RFC 9449 §8, §9)."""
        for _ in range(2):
            response = send(self._proof(method, url, access_token))
            if response.headers.get("DPoP-Nonce"):
                self.dpop_nonce = response.headers["DPoP-Nonce"]
            if "use_dpop_nonce" not in (response.headers.get("WWW-Authenticate", "") + response.text[:200]):
                return response
        return response

    def authorization_url(self, *, redirect_uri: str, scope: str, acr_values: str | None) -> tuple[str, dict]:
        """Push the request (RFC 9126); the URL to send the browser to and what the callback
        must check (state, nonce, PKCE verifier)."""
        verifier = secrets.token_urlsafe(48)
        pending = {"state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
                   "verifier": verifier}
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                  "scope": scope, "state": pending["state"], "nonce": pending["nonce"],
                  "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
                  "code_challenge_method": "S256"}
        if acr_values:
            params["acr_values"] = acr_values
        meta = self.metadata()
        response = requests.post(meta["pushed_authorization_request_endpoint"],
                                 data={**params, **self._assertion()}, timeout=10)
        if response.status_code != 201:
            raise FapiError(f"pushed authorization request refused: {response.text[:200]}")
        query = urlencode({"client_id": self.client_id, "request_uri": response.json()["request_uri"]})
        return f"{meta['authorization_endpoint']}?{query}", pending

    def finish(self, args, pending: dict, *, redirect_uri: str, keyset) -> tuple[dict, dict, str]:
        """The callback: the ID token's claims, UserInfo, and the ID token itself."""
        if args.get("iss") != self.issuer:  # RFC 9207 §2.4: mix-up defence
            raise FapiError("the authorization response is not from our provider (iss)")
        if not pending or args.get("state") != pending["state"]:
            raise FapiError("state does not match")
        meta = self.metadata()
        token_url = meta["token_endpoint"]
        data = {"grant_type": "authorization_code", "code": args.get("code", ""),
                "redirect_uri": redirect_uri, "code_verifier": pending["verifier"]}
        response = self._with_dpop(
            lambda proof: requests.post(token_url, data={**data, **self._assertion()},
                                        headers={"DPoP": proof}, timeout=10), "POST", token_url)
        if response.status_code != 200:
            raise FapiError(f"token request refused: {response.text[:200]}")
        tokens = response.json()
        if tokens.get("token_type") != "DPoP":
            raise FapiError("the access token is not DPoP-bound")
        id_token = tokens["id_token"]
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
        claims = jwt.decode(id_token, keyset(kid), algorithms=["ES256", "PS256"]).claims
        now = time.time()
        if claims.get("iss") != self.issuer or claims.get("aud") != self.client_id \
                or claims.get("nonce") != pending["nonce"] or claims.get("exp", 0) < now:
            raise FapiError("the ID token is not for this sign-in")
        access = tokens["access_token"]
        url = meta["userinfo_endpoint"]
        userinfo = self._with_dpop(
            lambda proof: requests.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": proof},
                                       timeout=10), "GET", url, access)
        if userinfo.status_code != 200:
            raise FapiError(f"UserInfo refused: {userinfo.text[:200]}")
        return dict(claims), userinfo.json(), id_token


__all__ = ["Fapi2Client", "FapiError", "KeySet", "load_or_create_key"]
