"""The document verdict's time rules: validity at the claimed signing time (RFC 5652 §11.3),
never in the future, and revocation at any time refuses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from idp.signatures.documents import verify_document
from idp.signatures.validation import SignaturePolicy

DOCUMENT = b"Bien ban nghiem thu"


def _signed_at(key, certificate, chain, data: bytes, when: datetime) -> bytes:
    """A detached SHA-256 CMS whose signingTime is ``when`` (what the signer's clock says)."""
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(when)})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(data).digest()]}),
    ])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature, algorithm = key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    else:
        signature, algorithm = key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    certs = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
             for c in [certificate, *chain]]
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": certs[0].issuer, "serial_number": certs[0].serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "signed_attrs": attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
        "signature": signature,
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "data"}, "certificates": certs,
        "signer_infos": [signer_info]})}).dump()


@pytest.fixture
def policy(trust_dir, demo_pki) -> SignaturePolicy:
    return SignaturePolicy(trust_dir=trust_dir, crl_sources=(str(demo_pki["dir"]),), ocsp=False)


def test_a_document_signed_while_the_certificate_was_valid_verifies_after_it_expired(citizen_keys, policy):
    key, certificate, chain = citizen_keys["em"]  # expired two days ago
    when = certificate.not_valid_after_utc - timedelta(days=10)
    verdict = verify_document(_signed_at(key, certificate, chain, DOCUMENT, when), DOCUMENT, policy)
    assert verdict["valid"] is True, verdict["failures"]
    assert verdict["signing_time"] == when.isoformat()


def test_a_signature_made_after_expiry_is_refused_as_expired(citizen_keys, policy):
    key, certificate, chain = citizen_keys["em"]
    signature = _signed_at(key, certificate, chain, DOCUMENT, datetime.now(UTC))
    verdict = verify_document(signature, DOCUMENT, policy)
    assert [f["code"] for f in verdict["failures"]] == ["expired"]


def test_a_signing_time_in_the_future_is_refused(citizen_keys, policy):
    key, certificate, chain = citizen_keys["cuong"]
    when = datetime.now(UTC) + timedelta(hours=1)
    verdict = verify_document(_signed_at(key, certificate, chain, DOCUMENT, when), DOCUMENT, policy)
    assert [f["code"] for f in verdict["failures"]] == ["invalid_signing_time"]


def test_a_backdated_signature_with_a_revoked_certificate_is_refused(citizen_keys, demo_pki, policy):
    key, certificate, chain = citizen_keys["dung"]
    revoked_at = datetime.fromisoformat(demo_pki["revoked_at"])
    signature = _signed_at(key, certificate, chain, DOCUMENT, revoked_at - timedelta(days=3))
    verdict = verify_document(signature, DOCUMENT, policy)
    assert [f["code"] for f in verdict["failures"]] == ["revoked"]
    assert verdict["revocation"] == {"status": "revoked", "revoked_at": demo_pki["revoked_at"]}


def test_a_signature_with_pkcs1_and_a_past_signing_time_verifies(citizen_keys, policy):
    key, certificate, chain = citizen_keys["binh"]
    signature = _signed_at(key, certificate, chain, DOCUMENT, datetime.now(UTC) - timedelta(days=1))
    assert verify_document(signature, DOCUMENT, policy)["valid"] is True
