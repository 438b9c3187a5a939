"""Certificate path validation for signature certificates (RFC 5280 §6) with pyhanko-certvalidator.

A signer's certificate is accepted only when it chains to a trust anchor in ``<IDP_KEYS_DIR>/trust``
(PEM files; nothing is trusted by default), every certificate in the path is valid at the time
that matters (now for a sign-in, the signing time for a document), its key usage allows signing
(RFC 5280 §4.2.1.3: digitalSignature or nonRepudiation), and it is not revoked according to
the CRLs and OCSP responses :mod:`idp.signatures.revocation` gathers.

Revocation of the signer's certificate (RFC 5280 §6.3, RFC 6960) is decided by
:func:`leaf_revocation`, whatever the certificate declares: *every* CRL gathered (configured
folders, files and URLs, and distribution points) whose issuer is the certificate's issuer and
whose signature that issuer made is searched for the serial number, so a certificate naming no
distribution point is still found revoked in the CRL an operator dropped in a folder. Its status
is ``good`` only on a *fresh* answer: a current CRL (thisUpdate past, nextUpdate still ahead)
that covers it and does not list it, or a current OCSP ``good`` signed by the issuer or its
delegated responder. Without one, ``IDP_SIGNATURE_REVOCATION`` decides: ``hard-fail`` refuses
(``revocation_unavailable``), ``soft-fail`` accepts with status ``unknown``. Under hard-fail
pyhanko-certvalidator also requires a CRL or OCSP answer for each CA certificate in the path
(ETSI TS 119 172 "eithercheck").

:func:`validate_signer` is the one entry point for both uses, the certificate sign-in and the
document verification service: it checks the signer's claimed signing time against the clock
(and, for a sign-in, against the challenge's lifetime) and validates the path at that time.

Every refusal is a :class:`Failure` with a stable code (see ``REASONS``) and a readable message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
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
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
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
INVALID_SIGNING_TIME = "invalid_signing_time"

#: Clock skew tolerated between the signer's computer (or the CA's) and this server.
CLOCK_SKEW = timedelta(minutes=5)

#: Every reason a certificate can be refused for, with what it means.
REASONS = {
    EXPIRED: "The certificate (or a CA certificate above it) had expired at the time of use.",
    NOT_YET_VALID: "The certificate (or a CA certificate above it) was not yet valid at the time of use.",
    REVOKED: "The issuing CA has revoked the certificate.",
    UNKNOWN_ISSUER: "The certificate does not chain to a trusted certification authority.",
    WRONG_KEY_USAGE: "The certificate is not meant for signatures (key usage lacks "
                     "digitalSignature and nonRepudiation).",
    BAD_SIGNATURE: "A signature in the certificate path does not verify.",
    REVOCATION_UNAVAILABLE: "No current CRL or OCSP answer covers the certificate and the "
                            "policy is hard-fail.",
    INVALID_CERTIFICATE: "The certificate path breaks an RFC 5280 rule.",
    INVALID_SIGNING_TIME: "The claimed signing time is in the future, or before the challenge "
                          "was issued.",
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


def _revinfo_policy(mode: str, at: datetime | None) -> CertRevTrustPolicy:
    """pyhanko-certvalidator's rules for the path. Hard-fail: a CRL or OCSP answer for every
    certificate ("eithercheck"), searched among all the CRLs given, not only those a certificate
    names (its legacy "hard-fail" checks only what a certificate declares). Soft-fail: what is
    declared and can be had. The signer's own certificate is decided again by
    :func:`leaf_revocation` either way."""
    rule = (RevocationCheckingRule.CRL_OR_OCSP_REQUIRED if mode == "hard-fail"
            else RevocationCheckingRule.CHECK_IF_DECLARED_SOFT)
    # Today's CRL speaks for a past signing time too: revocation is never undone here.
    return CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule), retroactive_revinfo=at is not None)


def validate_signer(certificate: x509.Certificate, other_certificates: list[x509.Certificate],
                    policy: SignaturePolicy, *, signing_time: datetime | None, now: datetime | None = None,
                    not_before: datetime | None = None) -> CertificateReport:
    """The one validation of a signer, for a sign-in and for a signed document alike.

    ``signing_time`` is the signer's claimed signingTime (RFC 5652 §11.3), or None. It is the
    signer's own word, not a trusted timestamp, so it is bounded: never in the future (beyond
    :data:`CLOCK_SKEW`), and never before ``not_before`` (a sign-in passes the earliest moment
    its challenge can have been issued). Within those bounds the path is validated at that
    time, so a document signed while the certificate was valid still verifies after it expires;
    revocation is judged on current data whatever that time (:func:`leaf_revocation`).
    """
    now = now or datetime.now(UTC)
    at, problem = None, None
    if signing_time is not None:
        if signing_time > now + CLOCK_SKEW:
            problem = Failure(INVALID_SIGNING_TIME, "The claimed signing time is in the future.")
        elif not_before is not None and signing_time < not_before - CLOCK_SKEW:
            problem = Failure(INVALID_SIGNING_TIME, "The claimed signing time is before the "
                                                    "challenge was issued.")
        elif not_before is None:
            at = min(signing_time, now)
    report = validate_certificate(certificate, other_certificates, policy, at=at)
    if problem is not None:
        report.failures.insert(0, problem)
    return report


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
    crls: list[bytes] = []
    ocsps: list[bytes] = []
    try:
        crls = revinfo.gather_crls(policy.crl_sources, chain) if trusted else []
        if policy.ocsp and trusted:
            for child, parent in zip(chain, chain[1:], strict=False):
                response = revinfo.ocsp_response(child, parent)
                if response is not None:
                    ocsps.append(response)
        context = ValidationContext(
            trust_roots=[_asn1(a) for a in anchors],
            other_certs=[_asn1(c) for c in other_certificates],
            moment=at, crls=crls, ocsps=ocsps, allow_fetching=False,
            revinfo_policy=_revinfo_policy(policy.revocation, at))
        validator = CertificateValidator(_asn1(certificate), validation_context=context)
        _run(validator.async_validate_path())
    except Exception as exc:  # the library's whole family of refusals maps to reasons
        failure, revoked_at = _failure_from(exc)
        log.info("signature certificate refused: %s (%s)", failure.code, type(exc).__name__)
        if failure.code == REVOCATION_UNAVAILABLE and len(chain) > 1 and chain[-1] in anchors:
            # The library found no answer somewhere in the path; if it is the signer's own
            # certificate that is listed as revoked in a CRL, say that (the stronger reason).
            status = leaf_revocation(certificate, chain[1], crls, ocsps)
            if status.revoked:
                report.failures.append(status.failure(at))
                report.revocation, report.revoked_at = REVOCATION_REVOKED, status.revoked_at
                return report
        if all(f.code != failure.code for f in report.failures):
            report.failures.append(failure)
        if failure.code == REVOKED:
            report.revocation, report.revoked_at = REVOCATION_REVOKED, revoked_at
        elif failure.code == REVOCATION_UNAVAILABLE:
            report.revocation = REVOCATION_UNKNOWN
        return report

    if len(chain) < 2:  # a trust anchor signing by itself: nobody above it can revoke it
        report.revocation = REVOCATION_NOT_CHECKED
        return report
    status = leaf_revocation(certificate, chain[1], crls, ocsps)
    if status.revoked:
        report.failures.append(status.failure(at))
        report.revocation, report.revoked_at = REVOCATION_REVOKED, status.revoked_at
    elif status.good:
        report.revocation = REVOCATION_GOOD
    else:
        report.revocation = REVOCATION_UNKNOWN
        if policy.revocation == "hard-fail":
            report.failures.append(Failure(REVOCATION_UNAVAILABLE, REASONS[REVOCATION_UNAVAILABLE]))
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


@dataclass(frozen=True)
class LeafRevocation:
    """What the revocation data says about one certificate: revoked (with when and why), good
    (a fresh answer that does not list it), or neither."""

    revoked_at: datetime | None = None
    reason: str | None = None
    good: bool = False

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def failure(self, at: datetime | None) -> Failure:
        when = self.revoked_at
        details: dict[str, Any] = {"revoked_at": when.isoformat()}
        message = f"The issuing CA revoked the certificate on {when:%Y-%m-%d %H:%M:%S} UTC"
        if self.reason is not None:
            details["revocation_reason"] = self.reason
            message += f", due to {self.reason.replace('_', ' ')}"
        if at is not None and when > at:
            # A claimed signing time is the signer's own word, not a trusted timestamp (RFC 5652
            # §11.3): a certificate revoked at any time is refused, or a stolen key could backdate.
            message += " (after the claimed signing time, which is not proof without a timestamp)"
        return Failure(REVOKED, message + ".", details)


def _current(this_update: datetime, next_update: datetime | None, now: datetime) -> bool:
    """RFC 5280 §5.1.2.4-5, RFC 6960 §4.2.2.1: issued already, and its next update still ahead."""
    return this_update <= now + CLOCK_SKEW and next_update is not None and now < next_update


def _crl_covers(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> bool:
    """Whether a CRL's silence about ``certificate`` means it is not revoked (RFC 5280 §6.3.3 (b)):
    not a partial CRL (only CA / attribute certificates, some reasons, indirect, a delta), and,
    if it names its distribution point, one the certificate names (no name: none needed)."""
    try:
        crl.extensions.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR)
        return False
    except x509.ExtensionNotFound:
        pass
    try:
        point = crl.extensions.get_extension_for_oid(ExtensionOID.ISSUING_DISTRIBUTION_POINT).value
    except x509.ExtensionNotFound:
        return True
    if (point.only_contains_ca_certs or point.only_contains_attribute_certs or point.indirect_crl
            or point.only_some_reasons):
        return False
    if point.full_name is None:
        return True
    names = set(point.full_name)
    return any(names & set(p.full_name or ()) for p in _distribution_points(certificate))


def _distribution_points(certificate: x509.Certificate) -> list[x509.DistributionPoint]:
    try:
        return list(certificate.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value)
    except x509.ExtensionNotFound:
        return []


def _signed_by(key, signature: bytes, data: bytes, algorithm) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _ocsp_signer_ok(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """RFC 6960 §4.2.2.2: signed by the issuing CA itself, or by a responder certificate the CA
    issued with the id-kp-OCSPSigning extended key usage."""
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    signers = [issuer]
    for candidate in response.certificates:
        try:
            usage = candidate.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
            candidate.verify_directly_issued_by(issuer)
        except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage:
            signers.append(candidate)
    return any(_signed_by(s.public_key(), response.signature, response.tbs_response_bytes, algorithm)
               for s in signers)


def leaf_revocation(certificate: x509.Certificate, issuer: x509.Certificate, crls: list[bytes],
                    ocsps: list[bytes], *, now: datetime | None = None) -> LeafRevocation:
    """Look ``certificate``'s serial up in every CRL its issuer signed and every OCSP answer.

    Revoked as soon as one of them lists it (at any time: this server never un-revokes; a CRL
    past its nextUpdate still proves a revocation). Good only on a fresh answer (see
    :func:`_current`). A CRL or response its issuer did not sign says nothing.
    """
    now = now or datetime.now(UTC)
    good = False
    for der in crls:
        try:
            crl = x509.load_der_x509_crl(der)
            if crl.issuer != certificate.issuer or not crl.is_signature_valid(issuer.public_key()):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None:
                return LeafRevocation(revoked_at=entry.revocation_date_utc, reason=_crl_reason(entry))
            good = good or (_current(crl.last_update_utc, crl.next_update_utc, now)
                            and _crl_covers(crl, certificate))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    for der in ocsps:
        try:
            response = ocsp.load_der_ocsp_response(der)
            if (response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL
                    or response.serial_number != certificate.serial_number
                    or not _ocsp_signer_ok(response, issuer)):
                continue
            if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                reason = response.revocation_reason
                return LeafRevocation(revoked_at=response.revocation_time_utc,
                                      reason=reason.name if reason is not None else None)
            if response.certificate_status == ocsp.OCSPCertStatus.GOOD:
                good = good or _current(response.this_update_utc, response.next_update_utc, now)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return LeafRevocation(good=good)


def _crl_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except (x509.ExtensionNotFound, ValueError):
        return None
