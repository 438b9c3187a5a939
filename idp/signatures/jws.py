"""Verifying a compact JWS (RFC 7515 §7.1) whose header carries the signer's certificate chain.

The alternative to CMS for signers that speak JOSE: the protected header names ``alg`` and
carries ``x5c`` (RFC 7515 §4.1.6: base64 DER certificates, the signer's first). The key that
verifies is the first certificate's public key; the chain is then validated like a CMS signer's.
Algorithms allowed: RS256/384/512, PS256/384/512, ES256/384/512 (never ``none`` or HMAC).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from idp.signatures.cms import MALFORMED, NO_CERTIFICATE, UNSUPPORTED, parse_certificate
from idp.signatures.validation import BAD_SIGNATURE, Failure

log = logging.getLogger(__name__)

RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGS = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
MAX_JWS_BYTES = 256 * 1024
MAX_CHAIN = 10


def _registry() -> jws.JWSRegistry:
    """joserfc's registry with our algorithm allow-list and room for an ``x5c`` chain in the header."""
    registry = jws.JWSRegistry(algorithms=sorted(RSA_ALGS | set(EC_ALGS)))
    registry.max_header_length = 32 * 1024
    registry.max_signature_length = 2048
    return registry


@dataclass
class JwsResult:
    failures: list[Failure] = field(default_factory=list)
    signer: x509.Certificate | None = None
    certificates: list[x509.Certificate] = field(default_factory=list)
    payload: bytes | None = None
    algorithm: str | None = None
    #: A compact JWS claims no signing time (RFC 7515 has none); kept so it reads like a CmsResult.
    signing_time: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, code: str, message: str) -> JwsResult:
        self.failures.append(Failure(code, message))
        return self


def looks_like_jws(value: str | bytes) -> bool:
    """A compact JWS is three base64url parts; a CMS signature (DER, PEM, base64) never is."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    return text.count(".") == 2 and text.startswith("ey") and " " not in text


def verify_jws(token: str | bytes) -> JwsResult:
    """Verify the token's signature with its ``x5c`` certificate. Never raises on bad input."""
    result = JwsResult()
    try:
        raw = token.encode("ascii") if isinstance(token, str) else token
        raw = raw.strip()
        if len(raw) > MAX_JWS_BYTES:
            return result.fail(MALFORMED, "The JWS is too large.")
        header = jws.extract_compact(raw, registry=_registry()).protected
        return _verify(raw, header, result)
    except Exception as exc:  # any parse error in hostile input is "malformed"
        log.info("malformed JWS: %s", type(exc).__name__)
        return result.fail(MALFORMED, "The value is not a well-formed compact JWS (RFC 7515 §7.1).")


def _verify(raw: bytes, header: dict, result: JwsResult) -> JwsResult:
    alg = header.get("alg")
    result.algorithm = alg if isinstance(alg, str) else None
    if alg not in RSA_ALGS and alg not in EC_ALGS:
        return result.fail(UNSUPPORTED, f"JWS algorithm {alg!r} is not allowed.")
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or len(chain) > MAX_CHAIN:
        return result.fail(NO_CERTIFICATE, "The JWS header must carry the signer's certificate in x5c "
                                           "(RFC 7515 §4.1.6).")
    # RFC 7515 §4.1.6: x5c values are base64 (not base64url) DER.
    result.certificates = [c for c in (parse_certificate(base64.b64decode(value, validate=True))
                                       for value in chain if isinstance(value, str)) if c is not None]
    if len(result.certificates) != len(chain):
        return result.fail(MALFORMED, "x5c must be a list of base64 DER certificates.")
    result.signer = result.certificates[0]
    public_key = result.signer.public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if alg in RSA_ALGS and isinstance(public_key, rsa.RSAPublicKey):
        key = RSAKey.import_key(pem)
    elif alg in EC_ALGS and isinstance(public_key, ec.EllipticCurvePublicKey) \
            and public_key.curve.name == EC_ALGS[alg]:
        key = ECKey.import_key(pem)
    else:
        return result.fail(UNSUPPORTED, f"JWS algorithm {alg} does not fit the certificate's key.")
    try:
        verified = jws.deserialize_compact(raw, key, algorithms=[alg], registry=_registry())
    except JoseError:
        return result.fail(BAD_SIGNATURE, "The JWS signature does not verify with its x5c certificate.")
    result.payload = verified.payload
    return result
