"""The server's own JWTs (access tokens, ID tokens, logout tokens) in the JWS Compact
Serialization (RFC 7515 §7.1), signed with the current key for their algorithm.

joserfc's ``jwt.encode`` treats every call as a stranger's: it validates the header against
its registry, picks the key out of a set, converts the claims and checks the key's uses, which
together cost more than the ES256 signature itself on the client_credentials path. The server's
tokens need none of that: the header is fixed per key and type (``alg``, ``kid``, ``typ``), so
it is encoded once; the claims are the server's own, plain JSON. The signature is still made by
joserfc's algorithm for ``alg`` (its registry's ``sign``, which for ES256 gives the raw
``R || S`` of RFC 7518 §3.4), so only the framing is written here:
``BASE64URL(header) "." BASE64URL(claims) "." BASE64URL(signature)``, no padding (§2).
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from joserfc.jws import JWSRegistry

from idp.keys import service as keys

#: The algorithms the server signs with (:data:`idp.keys.service.GENERATORS`), EdDSA included.
_REGISTRY = JWSRegistry(algorithms=list(keys.GENERATORS))


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=64)
def _encoded_header(alg: str, kid: str, typ: str) -> bytes:
    return _b64(json.dumps({"alg": alg, "kid": kid, "typ": typ}, separators=(",", ":")).encode())


def sign(claims: dict[str, Any], *, alg: str, typ: str) -> str:
    """``claims`` signed with the key that signs ``alg`` now; its ``kid`` in the header lets
    relying parties pick the right JWKS entry across rotations (RFC 7515 §4.1.4)."""
    key = keys.signing_key(alg)
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    signing_input = _encoded_header(alg, key.kid, typ) + b"." + _b64(payload)
    signature = _REGISTRY.get_alg(alg).sign(signing_input, key)
    return (signing_input + b"." + _b64(signature)).decode("ascii")
