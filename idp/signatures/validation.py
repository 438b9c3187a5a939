"""Certificate path validation for signature certificates (RFC 5280 §6) with pyhanko-certvalidator.

A signer's certificate is accepted only when it chains to a trust anchor in ``<IDP_KEYS_DIR>/trust``
(PEM files; nothing is trusted by default), every certificate in the path is valid at the time
that matters (now for a sign-in, the signing time for a document), its key usage allows signing
(RFC 5280 §4.2.1.3: digitalSignature or nonRepudiation), and it is not revoked according to
the CRLs and OCSP responses :mod:`idp.signatures.revocation` gathers. When revocation data
a certificate declares cannot be had, ``IDP_SIGNATURE_REVOCATION`` decides: ``hard-fail``
refuses (``revocation_unavailable``), ``soft-fail`` accepts with revocation status ``unknown``.

Every refusal is a :class:`Failure` with a stable code (see ``REASONS``) and a readable message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)

from idp.signatures import revocation as revinfo
from idp.signatures.identity import NationalId, citizen_identifier, subject_name

log = logging.getLogger(__name__)

EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
REVOKED = "revoked"
UNKNOWN_ISSUER = "unknown_issuer"
WRONG_KEY_USAGE = "wrong_key_usage"
BAD_SIGNATURE = "bad_signature"
REVOCATION_UNAVAILABLE = "revocation_unavailable"
INVALID_CERTIFICATE = "invalid_certificate"

#: Every reason a certificate can be refused for, with what it means.
REASONS = {
    EXPIRED: "The certificate (or a CA certificate above it) had expired at the time of use.",
    NOT_YET_VALID: "The certificate (or a CA certificate above it) was not yet valid at the time of use.",
    REVOKED: "The issuing CA has revoked the certificate.",
    UNKNOWN_ISSUER: "The certificate does not chain to a trusted certification authority.",
    WRONG_KEY_USAGE: "The certificate is not meant for signatures (key usage lacks "
                     "digitalSignature and nonRepudiation).",
    BAD_SIGNATURE: "A signature in the certificate path does not verify.",
    REVOCATION_UNAVAILABLE: "The certificate's revocation status could not be obtained "
                            "and the policy is hard-fail.",
    INVALID_CERTIFICATE: "The certificate path breaks an RFC 5280 rule.",
}

REVOCATION_GOOD = "good"
REVOCATION_REVOKED = "revoked"
REVOCATION_UNKNOWN = "unknown"
REVOCATION_NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class Failure:
    """One reason a signature or certificate was refused."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


@dataclass(frozen=True)
class SignaturePolicy:
    """What the validator trusts and how strict it is, from the ``IDP_SIGNATURE_*`` settings."""

    trust_dir: Path
    revocation: str = "hard-fail"
    crl_sources: tuple[str, ...] = (revinfo.DISTRIBUTION_POINTS,)
    ocsp: bool = True
    hardware_policies: frozenset[str] = frozenset()
    max_document: int = 50 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings) -> SignaturePolicy:
        return cls(trust_dir=Path(settings.keys_dir) / "trust",
                   revocation=settings.signature_revocation,
                   crl_sources=settings.signature_crl_sources,
                   ocsp=settings.signature_ocsp,
                   hardware_policies=settings.signature_hardware_policies,
                   max_document=settings.signature_max_document)


@dataclass
class CertificateReport:
    """The outcome of validating one signer certificate."""

    certificate: x509.Certificate
    failures: list[Failure]
    revocation: str
    revoked_at: datetime | None = None
    identifier: NationalId | None = None
    name: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


_trust_lock = threading.Lock()
_trust_cache: dict[str, tuple[tuple, list[x509.Certificate]]] = {}


def trust_anchors(trust_dir: Path) -> list[x509.Certificate]:
    """Every certificate in the trust folder's ``*.pem`` / ``*.crt`` files (reread when changed)."""
    try:
        files = sorted(p for p in trust_dir.iterdir()
                       if p.suffix.lower() in (".pem", ".crt") and p.is_file())
    except OSError:
        return []
    stamp = tuple((str(p), p.stat().st_mtime) for p in files)
    with _trust_lock:
        cached = _trust_cache.get(str(trust_dir))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    anchors: list[x509.Certificate] = []
    for path in files:
        try:
            anchors.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError):
            log.warning("trust anchor file %s holds no readable PEM certificate: ignored", path)
    with _trust_lock:
        _trust_cache[str(trust_dir)] = (stamp, anchors)
    return anchors


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def key_usage_failure(certificate: x509.Certificate) -> Failure | None:
    """RFC 5280 §4.2.1.3: a signature needs digitalSignature or nonRepudiation (contentCommitment)."""
    try:
        usage = certificate.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return Failure(WRONG_KEY_USAGE, "The certificate has no key usage extension; a signature "
                                        "certificate must allow digitalSignature or nonRepudiation.")
    except ValueError:
        return Failure(INVALID_CERTIFICATE, "The certificate's key usage extension cannot be read.")
    if usage.digital_signature or usage.content_commitment:
        return None
    return Failure(WRONG_KEY_USAGE, REASONS[WRONG_KEY_USAGE])


def _issuer_of(certificate: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == certificate.issuer:
            try:
                certificate.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return candidate
    return None


def _declares_revocation(certificate: x509.Certificate) -> bool:
    return bool(revinfo.distribution_point_urls(certificate) or revinfo.ocsp_urls(certificate))


def _failure_from(exc: Exception) -> tuple[Failure, datetime | None]:
    """Map pyhanko-certvalidator's exception to our reason codes."""
    if isinstance(exc, RevokedError):
        when = exc.revocation_dt
        details = {"revoked_at": when.isoformat()}
        message = f"The issuing CA revoked the certificate on {when:%Y-%m-%d %H:%M:%S} UTC"
        if exc.reason is not None:
            # RFC 5280 §5.3.1 CRLReason name, e.g. key_compromise.
            details["revocation_reason"] = exc.reason.native
            message += f", due to {exc.reason.human_friendly}"
        return Failure(REVOKED, message + ".", details), when
    if isinstance(exc, ExpiredError):
        return Failure(EXPIRED, f"The certificate path expired on {exc.expired_dt:%Y-%m-%d %H:%M:%S} UTC.",
                       {"expired_at": exc.expired_dt.isoformat()}), None
    if isinstance(exc, NotYetValidError):
        return Failure(NOT_YET_VALID, f"The certificate path is valid only from "
                                      f"{exc.valid_from:%Y-%m-%d %H:%M:%S} UTC.",
                       {"valid_from": exc.valid_from.isoformat()}), None
    if isinstance(exc, InsufficientRevinfoError):
        return Failure(REVOCATION_UNAVAILABLE, REASONS[REVOCATION_UNAVAILABLE]), None
    if isinstance(exc, (PathBuildingError, InvalidCertificateError)):
        return Failure(UNKNOWN_ISSUER, REASONS[UNKNOWN_ISSUER]), None
    if isinstance(exc, (PathValidationError, ValidationError)) and "signature" in str(exc).lower():
        return Failure(BAD_SIGNATURE, REASONS[BAD_SIGNATURE]), None
    return Failure(INVALID_CERTIFICATE, REASONS[INVALID_CERTIFICATE]), None


def _run(coroutine):
    return asyncio.run(coroutine)


def validate_certificate(certificate: x509.Certificate, other_certificates: list[x509.Certificate],
                         policy: SignaturePolicy, *, at: datetime | None = None) -> CertificateReport:
    """Validate a signer certificate's path at ``at`` (default: now).

    ``other_certificates`` are what came with the signature (intermediate CAs); they help build
    the path but are never trusted by themselves. Never raises: problems become failures.
    """
    try:
        return _validate(certificate, other_certificates, policy, at)
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm) as exc:
        # A field cryptography parses lazily turned out broken: the certificate is unusable.
        log.info("unreadable signature certificate: %s", type(exc).__name__)
        return CertificateReport(certificate=certificate, revocation=REVOCATION_NOT_CHECKED,
                                 failures=[Failure(INVALID_CERTIFICATE, "The certificate cannot be read.")])


def _validate(certificate: x509.Certificate, other_certificates: list[x509.Certificate],
              policy: SignaturePolicy, at: datetime | None) -> CertificateReport:
    report = CertificateReport(certificate=certificate, failures=[], revocation=REVOCATION_NOT_CHECKED,
                               identifier=citizen_identifier(certificate), name=subject_name(certificate))
    usage = key_usage_failure(certificate)
    if usage is not None:
        report.failures.append(usage)
    period = validity_failure(certificate, at or datetime.now(UTC))
    if period is not None:
        report.failures.append(period)

    anchors = trust_anchors(policy.trust_dir)
    pool = [c for c in other_certificates if c != certificate] + anchors
    chain = _chain(certificate, pool)
    # Only certificates issued under a trust anchor may make this server fetch a URL: the
    # addresses in a stranger's certificate would let anyone aim requests at internal hosts.
    trusted = chain[-1] in anchors
    try:
        crls = revinfo.gather_crls(policy.crl_sources, chain) if trusted else []
        ocsps = []
        if policy.ocsp and trusted:
            for child, parent in zip(chain, chain[1:], strict=False):
                response = revinfo.ocsp_response(child, parent)
                if response is not None:
                    ocsps.append(response)
        context = ValidationContext(
            trust_roots=[_asn1(a) for a in anchors],
            other_certs=[_asn1(c) for c in other_certificates],
            moment=at, crls=crls, ocsps=ocsps, allow_fetching=False,
            revocation_mode=policy.revocation,
            # Today's CRL speaks for a past signing time too: revocation is never undone here.
            retroactive_revinfo=at is not None)
        validator = CertificateValidator(_asn1(certificate), validation_context=context)
        _run(validator.async_validate_path())
    except Exception as exc:  # the library's whole family of refusals maps to reasons
        failure, revoked_at = _failure_from(exc)
        log.info("signature certificate refused: %s (%s)", failure.code, type(exc).__name__)
        if all(f.code != failure.code for f in report.failures):
            report.failures.append(failure)
        if failure.code == REVOKED:
            report.revocation, report.revoked_at = REVOCATION_REVOKED, revoked_at
        elif failure.code == REVOCATION_UNAVAILABLE:
            report.revocation = REVOCATION_UNKNOWN
        return report

    report.revocation = _leaf_status(chain, crls, ocsps)
    if at is not None and len(chain) > 1:
        _refuse_if_revoked_later(report, chain[1], crls)
    return report


def validity_failure(certificate: x509.Certificate, at: datetime) -> Failure | None:
    """RFC 5280 §6.1.3 (a)(2): the certificate's validity period must include the time of use."""
    if at < certificate.not_valid_before_utc:
        when = certificate.not_valid_before_utc
        return Failure(NOT_YET_VALID, f"The certificate is valid only from {when:%Y-%m-%d %H:%M:%S} UTC.",
                       {"valid_from": when.isoformat()})
    if at > certificate.not_valid_after_utc:
        when = certificate.not_valid_after_utc
        return Failure(EXPIRED, f"The certificate expired on {when:%Y-%m-%d %H:%M:%S} UTC.",
                       {"expired_at": when.isoformat()})
    return None


def _chain(certificate: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    """The certificate and the issuers found for it in ``pool`` (for gathering revocation data)."""
    chain = [certificate]
    while len(chain) < 8:
        issuer = _issuer_of(chain[-1], pool)
        if issuer is None or issuer in chain:
            break
        chain.append(issuer)
    return chain


def _leaf_status(chain: list[x509.Certificate], crls: list[bytes], ocsps: list[bytes]) -> str:
    """``good`` when a CRL or OCSP response from the issuer covered the signer's certificate
    (the validator accepted it, so it did not list it as revoked); ``unknown`` when the certificate
    declared revocation data that could not be had (soft-fail); ``not_checked`` when it declares none."""
    leaf = chain[0]
    if len(chain) > 1:
        issuer = chain[1]
        for der in crls:
            try:
                crl = x509.load_der_x509_crl(der)
                if crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key()):
                    return REVOCATION_GOOD
            except (ValueError, TypeError):
                continue
        for der in ocsps:
            try:
                response = ocsp.load_der_ocsp_response(der)
                if (response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
                        and response.serial_number == leaf.serial_number
                        and response.certificate_status == ocsp.OCSPCertStatus.GOOD):
                    return REVOCATION_GOOD
            except (ValueError, TypeError):
                continue
    return REVOCATION_UNKNOWN if _declares_revocation(leaf) else REVOCATION_NOT_CHECKED


def _refuse_if_revoked_later(report: CertificateReport, issuer: x509.Certificate, crls: list[bytes]) -> None:
    """A claimed signing time is the signer's own word, not a trusted timestamp (RFC 5652 §11.3):
    a certificate revoked at any time, even after it, is refused, or a stolen key could backdate."""
    for der in crls:
        try:
            crl = x509.load_der_x509_crl(der)
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(report.certificate.serial_number)
        except (ValueError, TypeError):
            continue
        if entry is not None:
            when = entry.revocation_date_utc
            report.failures.append(Failure(
                REVOKED, f"The issuing CA revoked the certificate on {when:%Y-%m-%d %H:%M:%S} UTC "
                         "(after the claimed signing time, which is not proof without a timestamp).",
                {"revoked_at": when.isoformat()}))
            report.revocation, report.revoked_at = REVOCATION_REVOKED, when
            return
