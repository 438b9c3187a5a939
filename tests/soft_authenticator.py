"""A software WebAuthn authenticator for tests: a P-256 key made on the spot, and the real
structures a browser would send (W3C WebAuthn Level 2 §6.1 authenticator data, §6.5 attestation
object with format "none", §5.8.1 client data), encoded with CBOR (RFC 8949) and COSE (RFC 9052)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    #: Whether the device verifies its user (PIN or biometrics): the UV flag.
    user_verifying: bool = True

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str | None = None) -> str:
        """``navigator.credentials.create``: the RegistrationResponseJSON."""
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = (bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id
                    + self._cose_key())
        flags = UP | (UV if self.user_verifying else 0) | AT
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "response": {"clientDataJSON": b64url(client_data),
                                        "attestationObject": b64url(attestation),
                                        "transports": ["internal"]}})

    def get(self, options: dict, *, origin: str | None = None, count: int | None = None,
            rp_id: str | None = None) -> str:
        """``navigator.credentials.get``: the AuthenticationResponseJSON, counter incremented."""
        self.sign_count = self.sign_count + 1 if count is None else count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        rp_hash = hashlib.sha256((rp_id or options.get("rpId") or self.rp_id).encode()).digest()
        flags = UP | (UV if self.user_verifying else 0)
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "response": {"clientDataJSON": b64url(client_data),
                                        "authenticatorData": b64url(auth_data),
                                        "signature": b64url(signature), "userHandle": None}})
