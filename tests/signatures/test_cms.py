"""CMS SignedData (RFC 5652) and x5c JWS (RFC 7515) verification, signature level only."""

from __future__ import annotations

import base64
import io
import json

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.signatures.cms import CHUNK, verify_cms
from idp.signatures.jws import verify_jws

DOCUMENT = "Đơn đề nghị cấp giấy phép xây dựng — số 42/2026".encode()


@pytest.mark.parametrize(("slug", "hash_name", "pss", "algorithm"), [
    ("an", "sha256", False, "rsassa_pkcs1v15"),
    ("binh", "sha384", False, "rsassa_pkcs1v15"),
    ("an", "sha256", True, "rsassa_pss"),
    ("binh", "sha512", True, "rsassa_pss"),
    ("cuong", "sha256", False, "ecdsa"),
    ("cuong", "sha512", False, "ecdsa"),
])
def test_detached_signatures_verify_for_each_allowed_algorithm(citizen_keys, signer, slug, hash_name, pss,
                                                               algorithm):
    key, certificate, chain = citizen_keys[slug]
    der = signer.sign_cms(DOCUMENT, key, certificate, chain, hash_name=hash_name, pss=pss)
    result = verify_cms(der, io.BytesIO(DOCUMENT))
    assert result.ok, result.failures
    assert (result.signature_algorithm, result.digest_algorithm) == (algorithm, hash_name)
    assert result.signer == certificate
    assert result.signing_time is not None
    assert not result.enveloping


def test_pem_and_base64_forms_are_accepted(citizen_keys, signer):
    der = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    pem = b"-----BEGIN CMS-----\n" + base64.encodebytes(der) + b"-----END CMS-----\n"
    assert verify_cms(pem, DOCUMENT).ok
    assert verify_cms(base64.b64encode(der), DOCUMENT).ok


def test_enveloping_signature_verifies_and_gives_back_its_document(citizen_keys, signer):
    der = signer.sign_cms(DOCUMENT, *citizen_keys["cuong"], detached=False)
    result = verify_cms(der)
    assert result.ok, result.failures
    assert result.enveloping and result.content == DOCUMENT


def test_modified_document_fails_with_bad_signature(citizen_keys, signer):
    der = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    result = verify_cms(der, DOCUMENT + b" ")
    assert [f.code for f in result.failures] == ["bad_signature"]
    assert "messageDigest" in result.failures[0].message


def test_altered_signature_value_fails_with_bad_signature(citizen_keys, signer):
    info = asn1_cms.ContentInfo.load(signer.sign_cms(DOCUMENT, *citizen_keys["cuong"]))
    signer_info = info["content"]["signer_infos"][0]
    value = bytearray(signer_info["signature"].native)
    value[-3] ^= 0x01
    signer_info["signature"] = bytes(value)
    assert [f.code for f in verify_cms(info.dump(force=True), DOCUMENT).failures] == ["bad_signature"]


def test_a_signature_without_certificates_is_refused(citizen_keys, signer):
    info = asn1_cms.ContentInfo.load(signer.sign_cms(DOCUMENT, *citizen_keys["an"]))
    info["content"]["certificates"] = []
    result = verify_cms(info.dump(force=True), DOCUMENT)
    assert [f.code for f in result.failures] == ["signer_certificate_missing"]


def test_sha1_is_not_allowed(citizen_keys, signer):
    info = asn1_cms.ContentInfo.load(signer.sign_cms(DOCUMENT, *citizen_keys["an"]))
    info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "sha1"}
    result = verify_cms(info.dump(force=True), DOCUMENT)
    assert [f.code for f in result.failures] == ["unsupported_algorithm"]
    assert result.digest_algorithm == "sha1"


def test_two_signers_are_refused_as_malformed(citizen_keys):
    builder = pkcs7.PKCS7SignatureBuilder().set_data(DOCUMENT)
    for slug in ("an", "cuong"):
        key, certificate, _ = citizen_keys[slug]
        builder = builder.add_signer(certificate, key, hashes.SHA256())
    der = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                                   pkcs7.PKCS7Options.Binary])
    assert [f.code for f in verify_cms(der, DOCUMENT).failures] == ["malformed"]


def test_detached_signature_without_document_and_enveloping_with_one(citizen_keys, signer):
    detached = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    enveloping = signer.sign_cms(DOCUMENT, *citizen_keys["an"], detached=False)
    assert [f.code for f in verify_cms(detached).failures] == ["content_missing"]
    assert [f.code for f in verify_cms(enveloping, DOCUMENT).failures] == ["content_conflict"]


@pytest.mark.parametrize("blob", [
    b"", b"garbage", b"\x30", b"\x30\x03\x02\x01\x01", b"\x30\x80\x00\x00",
    b"-----BEGIN CMS-----\n!!!\n-----END CMS-----", base64.b64encode(b"\x30\x82\xff\xff"),
])
def test_malformed_input_is_refused_cleanly(blob):
    assert [f.code for f in verify_cms(blob, DOCUMENT).failures] == ["malformed"]


def test_a_certificate_is_not_a_signature(demo_pki):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((demo_pki["dir"] / "an.pem").read_bytes())
    assert [f.code for f in verify_cms(cert.public_bytes(serialization.Encoding.DER), DOCUMENT).failures] \
        == ["malformed"]


class _CountingReader(io.RawIOBase):
    """A large document that is never in memory whole: records the biggest read asked for."""

    def __init__(self, size: int, block: bytes):
        self.left, self.block, self.biggest = size, block, 0

    def readable(self):
        return True

    def read(self, n=-1):
        assert n != -1, "the whole document was asked for at once"
        self.biggest = max(self.biggest, n)
        n = min(n, self.left)
        self.left -= n
        return (self.block * (n // len(self.block) + 1))[:n]


def test_a_large_document_is_hashed_in_chunks(citizen_keys, signer):
    size = 8 * 1024 * 1024 + 17
    block = b"0123456789abcdef"
    document = (block * (size // len(block) + 1))[:size]
    der = signer.sign_cms(document, *citizen_keys["cuong"])
    del document
    reader = _CountingReader(size, block)
    assert verify_cms(der, reader).ok
    assert reader.biggest <= CHUNK


# -- JWS with x5c --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(("slug", "pss", "alg"), [("an", False, "RS256"), ("binh", True, "PS256"),
                                                  ("cuong", False, "ES256")])
def test_jws_with_x5c_verifies(citizen_keys, signer, slug, pss, alg):
    token = signer.sign_jws(b"challenge", *citizen_keys[slug], pss=pss)
    result = verify_jws(token)
    assert result.ok, result.failures
    assert (result.payload, result.algorithm) == (b"challenge", alg)
    assert result.signer == citizen_keys[slug][1]


def test_jws_with_changed_payload_fails(citizen_keys, signer):
    header, _, signature = signer.sign_jws(b"challenge", *citizen_keys["cuong"]).split(".")
    token = f"{header}.{_b64url(b'other')}.{signature}"
    assert [f.code for f in verify_jws(token).failures] == ["bad_signature"]


def test_jws_alg_none_hmac_and_key_mismatch_are_refused(citizen_keys, signer):
    token = signer.sign_jws(b"x", *citizen_keys["cuong"])
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    for alg in ("none", "HS256", "RS256"):
        forged_header = _b64url(json.dumps({**header, "alg": alg}).encode())
        forged = f"{forged_header}.{_b64url(b'x')}.{token.split('.')[2]}"
        assert [f.code for f in verify_jws(forged).failures] == ["unsupported_algorithm"], alg


def test_jws_without_x5c_is_refused(citizen_keys, signer):
    token = signer.sign_jws(b"x", *citizen_keys["cuong"])
    forged = f"{_b64url(json.dumps({'alg': 'ES256'}).encode())}.{_b64url(b'x')}.{token.split('.')[2]}"
    assert [f.code for f in verify_jws(forged).failures] == ["signer_certificate_missing"]


@pytest.mark.parametrize("token", ["", "a.b", "eyJ.eyJ.x", "eyJhbGciOiJFUzI1NiJ9" * 3000 + ".e.e"])
def test_malformed_jws_is_refused_cleanly(token):
    assert [f.code for f in verify_jws(token).failures] == ["malformed"]


@pytest.fixture(scope="module")
def valid_jws(citizen_keys, signer) -> str:
    return signer.sign_jws(b"challenge", *citizen_keys["cuong"])


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 5000), st.sampled_from("eyJ.-_=+/AZaz09{}\"")),
                      min_size=1, max_size=6))
def test_fuzzed_jws_never_raises(valid_jws, edits):
    token = list(valid_jws)
    for position, char in edits:
        token[position % len(token)] = char
    result = verify_jws("".join(token))
    assert result.ok is (result.failures == [])
