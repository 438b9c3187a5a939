"""The verdict on a signed document: CMS signature, signer certificate, signing time, revocation.

Used by the agencies' verification API (:mod:`idp.api.signatures`); Flask-free so it can be
called from anywhere. The answer lists every failure found, not just the first: an agency needs
to know both that a document was changed and that the signer's certificate was revoked.

Time of validation (:func:`idp.signatures.validation.validate_signer`, shared with the
certificate sign-in): the certificate path is checked at the signing time the signer claims
(signed attribute signingTime, RFC 5652 §11.3), or now when there is none, so a document signed
while the certificate was valid still verifies after the certificate expires. A claimed time is
not a trusted timestamp, so a certificate revoked at any time is refused, and a signing time in
the future is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from idp.signatures.cms import CmsResult, verify_cms
from idp.signatures.validation import Failure, SignaturePolicy, validate_signer


def _certificate_summary(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "serial_number": format(certificate.serial_number, "x"),
        "issuer": certificate.issuer.rfc4514_string(),
        "subject": certificate.subject.rfc4514_string(),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(),
    }


def verify_document(signature: bytes, document: bytes | BinaryIO | None,
                           policy: SignaturePolicy, *, now: datetime | None = None) -> dict[str, Any]:
    """Verify ``signature`` (detached over ``document``, or enveloping when ``document`` is None).

    Returns the JSON-ready verdict described by the OpenAPI document's ``VerificationResult``.
    """
    now = now or datetime.now(UTC)
    cms: CmsResult = verify_cms(signature, document)
    failures: list[Failure] = list(cms.failures)
    verdict: dict[str, Any] = {
        "valid": False,
        "signature_format": "cms-enveloping" if cms.enveloping else "cms-detached",
        "signer": None,
        "certificate": None,
        "signing_time": cms.signing_time.isoformat() if cms.signing_time else None,
        "digest_algorithm": cms.digest_algorithm,
        "signature_algorithm": cms.signature_algorithm,
        "revocation": {"status": "not_checked", "revoked_at": None},
        "failures": [],
    }
    if cms.signer is not None:
        report = validate_signer(cms.signer, cms.certificates, policy, signing_time=cms.signing_time, now=now)
        failures.extend(report.failures)
        identifier = report.identifier
        verdict["signer"] = {
            "identifier": {"scheme": identifier.scheme, "value": identifier.value} if identifier else None,
            "name": report.name,
        }
        verdict["certificate"] = _certificate_summary(cms.signer)
        verdict["revocation"] = {"status": report.revocation,
                                 "revoked_at": report.revoked_at.isoformat() if report.revoked_at else None}
    verdict["failures"] = [f.as_dict() for f in failures]
    verdict["valid"] = not failures
    return verdict
