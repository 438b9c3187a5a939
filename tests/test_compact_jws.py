"""The server's own JWTs (idp.keys.compact_jws), checked as a relying party checks them: against
the JWKS it downloads (RFC 7515 §7.1 compact form, RFC 7518 §3 signatures)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt

from idp.keys import compact_jws
from tests.oidc_support import jwks_of


def _segments(token: str) -> tuple[dict, dict, bytes]:
    header, payload, signature = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
                                  for part in token.split("."))
    return json.loads(header), json.loads(payload), signature


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
def test_a_signed_token_verifies_against_the_published_jwks_with_its_kid_and_type(app, browser, alg):
    claims = {"iss": "https://idp.example", "sub": "c-1", "iat": 1, "name": "Nguyễn Văn An"}
    with app.app_context():
        token = compact_jws.sign(claims, alg=alg, typ="at+jwt")
    assert "=" not in token and token.count(".") == 2  # RFC 7515 §2: no padding
    decoded = jwt.decode(token, jwks_of(browser), algorithms=[alg])
    assert decoded.claims == claims
    assert decoded.header["alg"] == alg and decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"].startswith(alg.lower())  # the key that signs alg now


def test_es256_signatures_are_raw_r_and_s_of_32_bytes_each_even_with_leading_zeros(app, browser):
    """RFC 7518 §3.4: R and S as 32-byte big-endian integers, not DER. About one signature in
    128 has an R or S shorter than 32 bytes; each must still be padded to 64 bytes in all."""
    with app.app_context():
        tokens = [compact_jws.sign({"n": n}, alg="ES256", typ="JWT") for n in range(1500)]
    keyset = jwks_of(browser)
    public = keyset.get_by_kid(_segments(tokens[0])[0]["kid"]).public_key
    short = 0
    for token in tokens:
        _, _, signature = _segments(token)
        assert len(signature) == 64
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        short += r < 2**248 or s < 2**248
        signing_input = token.rsplit(".", 1)[0].encode()
        public.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    assert short > 0  # the padded case was exercised (P(none in 1500) < 10^-5)
