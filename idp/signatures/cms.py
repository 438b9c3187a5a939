"""Verifying CMS / PKCS#7 SignedData (RFC 5652 §5), detached or enveloping.

What Vietnamese and Russian signing plugins (and ``openssl cms -sign``) produce: a ContentInfo of
type signed-data with one SignerInfo, the signer's certificate (and usually its CA chain) in
``certificates``, and signed attributes contentType, messageDigest and signingTime.

- Parsing with asn1crypto; signature checks with cryptography. Allowed: RSA PKCS#1 v1.5 and
  RSASSA-PSS (RFC 4056), ECDSA (RFC 5753), with SHA-256/384/512 (RFC 5754). Nothing weaker.
- A detached document is streamed through the hash in chunks: it is never held whole in memory.
- Bad input never raises: every problem becomes a :class:`~idp.signatures.validation.Failure`.

The certificate itself (path, validity, revocation) is :mod:`idp.signatures.validation`'s job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from idp.signatures.validation import BAD_SIGNATURE, Failure

log = logging.getLogger(__name__)

MALFORMED = "malformed"
UNSUPPORTED = "unsupported_algorithm"
NO_CERTIFICATE = "signer_certificate_missing"
CONTENT_MISSING = "content_missing"
CONTENT_CONFLICT = "content_conflict"

CMS_REASONS = {
    MALFORMED: "The signature is not a well-formed CMS/PKCS#7 SignedData structure.",
    UNSUPPORTED: "The signature uses an algorithm that is not allowed.",
    NO_CERTIFICATE: "The signature does not carry the signer's certificate.",
    CONTENT_MISSING: "The signature is detached but no document was given.",
    CONTENT_CONFLICT: "The signature already contains a document; send it alone.",
    BAD_SIGNATURE: "The signature does not verify over the document.",
}

#: RFC 5754 §2: the digest algorithms we accept, by asn1crypto's name.
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
CHUNK = 64 * 1024
#: A detached signature with its certificate chain is a few kilobytes; this is generous.
MAX_SIGNATURE_BYTES = 1024 * 1024

_PEM = re.compile(rb"-----BEGIN (?:PKCS7|CMS|PKCS #7 SIGNED DATA)-----(.*?)-----END [A-Z0-9 #]+-----", re.S)


class CmsError(ValueError):
    """The bytes given are not a CMS signature (not DER, PEM or base64 of one)."""


@dataclass
class CmsResult:
    """What a CMS signature says and whether it verifies (not yet whether its certificate is good)."""

    failures: list[Failure] = field(default_factory=list)
    signer: x509.Certificate | None = None
    certificates: list[x509.Certificate] = field(default_factory=list)
    signing_time: datetime | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    enveloping: bool = False
    #: The document inside an enveloping signature (None for a detached one).
    content: bytes | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, code: str, message: str | None = None) -> CmsResult:
        self.failures.append(Failure(code, message or CMS_REASONS[code]))
        return self


def decode_signature(data: bytes) -> bytes:
    """DER from DER, PEM (``PKCS7`` / ``CMS``) or bare base64 (what browser plugins return)."""
    if len(data) > MAX_SIGNATURE_BYTES * 2:
        raise CmsError("signature too large")
    if data[:1] == b"\x30":
        return data  # DER: never strip, its last byte may well be a "whitespace" value
    stripped = data.strip()
    match = _PEM.search(stripped)
    text = match.group(1) if match else stripped
    try:
        der = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CmsError("not DER, PEM or base64") from None
    if der[:1] != b"\x30":
        raise CmsError("not a DER structure")
    return der


def parse_certificate(der: bytes) -> x509.Certificate | None:
    """A certificate whose fields all parse, or None (cryptography parses some fields lazily)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        certificate.subject.rfc4514_string()
        certificate.issuer.rfc4514_string()
        _ = (certificate.serial_number, certificate.not_valid_before_utc, certificate.not_valid_after_utc,
             list(certificate.extensions), certificate.public_key())
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm):
        return None
    return certificate


def _digest_stream(content: bytes | BinaryIO, algorithm: str) -> bytes:
    hasher = hashlib.new(algorithm)
    if isinstance(content, bytes | bytearray | memoryview):
        hasher.update(content)
        return hasher.digest()
    while chunk := content.read(CHUNK):
        hasher.update(chunk)
    return hasher.digest()


def verify_cms(signature: bytes, content: bytes | BinaryIO | None = None) -> CmsResult:
    """Verify a CMS SignedData over ``content`` (detached) or over the content it carries.

    Never raises on bad input: the result's ``failures`` say what is wrong.
    """
    result = CmsResult()
    try:
        der = decode_signature(signature)
        return _verify(der, content, result)
    except OSError:
        raise
    except Exception as exc:  # any parse error in hostile input is "malformed"
        log.info("malformed CMS signature: %s", type(exc).__name__)
        result.failures = [f for f in result.failures if f.code != MALFORMED]
        return result.fail(MALFORMED)


def _verify(der: bytes, content: bytes | BinaryIO | None, result: CmsResult) -> CmsResult:
    info = asn1_cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        return result.fail(MALFORMED, "The CMS structure is not SignedData (RFC 5652 §5).")
    signed = info["content"]
    signers = signed["signer_infos"]
    if len(signers) != 1:
        return result.fail(MALFORMED, "The signature must have exactly one signer.")
    signer_info = signers[0]
    encap = signed["encap_content_info"]
    embedded = encap["content"]
    if embedded.native is not None:
        if content is not None:
            return result.fail(CONTENT_CONFLICT)
        result.enveloping = True
        value = embedded.native
        result.content = value if isinstance(value, bytes) else embedded.contents
        content = result.content
    elif content is None:
        return result.fail(CONTENT_MISSING)

    certificates = []
    asn1_certificates = []
    for choice in signed["certificates"] or []:
        if choice.name == "certificate":
            parsed = parse_certificate(choice.chosen.dump())
            if parsed is not None:
                asn1_certificates.append(choice.chosen)
                certificates.append(parsed)
    result.certificates = certificates

    index = _find_signer(signer_info["sid"], asn1_certificates)
    if index is None:
        return result.fail(NO_CERTIFICATE)
    result.signer = certificates[index]

    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    result.digest_algorithm = digest_name
    if digest_name not in DIGESTS:
        return result.fail(UNSUPPORTED, f"Digest algorithm {digest_name} is not allowed "
                                        "(SHA-256, SHA-384 or SHA-512).")
    verifier = _verifier(signer_info["signature_algorithm"], digest_name, result.signer, result)
    if verifier is None:
        return result

    digest = _digest_stream(content, digest_name)
    signature_value = signer_info["signature"].native
    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is None:
        # RFC 5652 §5.4: without signed attributes the signature covers the content itself,
        # which is allowed only for id-data content.
        if encap["content_type"].native != "data":
            return result.fail(MALFORMED, "Signed attributes are required for this content type "
                                          "(RFC 5652 §5.3).")
        if not verifier(signature_value, digest, prehashed=True):
            return result.fail(BAD_SIGNATURE)
        return result

    attributes = _attributes(signed_attrs)
    if attributes is None:
        return result.fail(MALFORMED, "A signed attribute appears twice or has several values "
                                      "(RFC 5652 §11).")
    content_type = attributes.get("content_type")
    message_digest = attributes.get("message_digest")
    if content_type is None or message_digest is None:
        return result.fail(MALFORMED, "Signed attributes must include contentType and messageDigest "
                                      "(RFC 5652 §5.3).")
    if content_type.native != encap["content_type"].native:
        return result.fail(MALFORMED, "The contentType attribute differs from the signed content's "
                                      "type (RFC 5652 §11.1).")
    signing_time = attributes.get("signing_time")
    if signing_time is not None:
        result.signing_time = signing_time.native
    # The DER of the attributes with the SET OF tag, not the [0] IMPLICIT tag (RFC 5652 §5.4).
    attrs_der = b"\x31" + signed_attrs.dump()[1:]
    if not verifier(signature_value, attrs_der, prehashed=False):
        return result.fail(BAD_SIGNATURE, "The signature over the signed attributes does not verify.")
    if not _equal(message_digest.native, digest):
        return result.fail(BAD_SIGNATURE, "The document does not match the signature: its digest "
                                          "differs from the signed messageDigest (RFC 5652 §11.2).")
    return result


def _equal(a: bytes, b: bytes) -> bool:
    import hmac

    return isinstance(a, bytes) and hmac.compare_digest(a, b)


def _attributes(signed_attrs) -> dict | None:
    """The signed attributes by name; None if one of them is repeated or multi-valued."""
    found: dict = {}
    for attribute in signed_attrs:
        name = attribute["type"].native
        if name in found:
            return None
        values = attribute["values"]
        if name in ("content_type", "message_digest", "signing_time") and len(values) != 1:
            return None
        found[name] = values[0] if len(values) else None
    return found


def _find_signer(sid, certificates) -> int | None:
    """RFC 5652 §5.3: the signer is named by issuer and serial number or by subject key identifier."""
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen
        for index, certificate in enumerate(certificates):
            if (certificate.serial_number == wanted["serial_number"].native
                    and certificate.issuer == wanted["issuer"]):
                return index
    elif sid.name == "subject_key_identifier":
        for index, certificate in enumerate(certificates):
            if certificate.key_identifier is not None and certificate.key_identifier == sid.chosen.native:
                return index
    return None


def _verifier(algorithm, digest_name: str, certificate: x509.Certificate, result: CmsResult):
    """A function checking a signature value, for the allowed algorithm/key pairs only."""
    try:
        kind = algorithm.signature_algo
    except ValueError:
        result.fail(UNSUPPORTED, f"Signature algorithm {algorithm['algorithm'].dotted} is not allowed.")
        return None
    try:
        named_hash = algorithm.hash_algo
    except ValueError:
        named_hash = None
    if kind != "rsassa_pss" and named_hash is not None and named_hash != digest_name:
        result.fail(UNSUPPORTED, "The signature algorithm's hash differs from the digest algorithm.")
        return None
    hash_algorithm = DIGESTS[digest_name]()
    public_key = certificate.public_key()
    result.signature_algorithm = kind

    if kind == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
        pad = padding.PKCS1v15()
    elif kind == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
        pad = _pss_padding(algorithm["parameters"], digest_name, result)
        if pad is None:
            return None
    elif kind == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        pad = None
    else:
        result.fail(UNSUPPORTED, f"Signature algorithm {kind} does not fit the certificate's key "
                                 "or is not allowed (RSA, RSASSA-PSS, ECDSA).")
        return None

    def verify(value: bytes, data: bytes, *, prehashed: bool) -> bool:
        algo = Prehashed(hash_algorithm) if prehashed else hash_algorithm
        try:
            if pad is None:
                public_key.verify(value, data, ec.ECDSA(algo))
            else:
                public_key.verify(value, data, pad, algo)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify


def _pss_padding(params, digest_name: str, result: CmsResult) -> padding.PSS | None:
    """RFC 4056 §3: RSASSA-PSS parameters; the hash and MGF1 hash must be the digest algorithm."""
    hash_name = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    mgf_hash = mgf["parameters"]["algorithm"].native if mgf["algorithm"].native == "mgf1" else None
    if hash_name != digest_name or mgf_hash != digest_name:
        result.fail(UNSUPPORTED, "RSASSA-PSS must use the digest algorithm for its hash and MGF1.")
        return None
    if params["trailer_field"].native not in (1, "trailer_field_bc"):
        result.fail(UNSUPPORTED, "RSASSA-PSS trailer field must be 1 (RFC 4055 §3.1).")
        return None
    return padding.PSS(mgf=padding.MGF1(DIGESTS[digest_name]()), salt_length=params["salt_length"].native)
