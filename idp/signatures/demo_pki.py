"""A demo national PKI: root CA, issuing CA, citizens' signature certificates, CRLs, PKCS#12 files.

Everything it makes is fictional and for trials and tests only. Nothing of it is trusted by the
server until an operator copies ``root-ca.pem`` into the trust folder (``keys/trust/``).

How the citizen's identifier is carried. Vietnamese accredited CAs (VNPT-CA / VNPT SmartCA,
Viettel-CA, MISA, ...) put it in the subject as the LDAP ``UID`` attribute
(0.9.2342.19200300.100.1.1) with a prefix naming the document: ``UID=CCCD:038093015572``
(citizen identity card, the 12-digit personal identification number), ``CMND:`` (old identity
card), ``HC:`` (passport), ``MST:`` (tax code, for organisations). We follow that form:
``UID=CCCD:<12 digits>``. :mod:`idp.signatures.identity` also reads the same prefixes from the
``serialNumber`` attribute (2.5.4.5), which some CAs use instead.

Run ``python scripts/demo_pki.py OUT_DIR``; ``manifest.json`` in ``OUT_DIR`` lists what was made.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

#: ETSI EN 319 411-2 QCP-n-qscd: a qualified certificate whose key is on a QSCD (a USB token).
POLICY_QSCD = "0.4.0.194112.1.2"
#: A demo CA's own policy for software keys (a PKCS#12 file): an arc reserved for examples.
POLICY_SOFTWARE = "1.3.6.1.4.1.99999.1.1"

#: ETSI EN 319 412-5 §4.2.1 QcCompliance and §4.2.2 QcSSCD (key on a qualified signature
#: creation device), in the qcStatements extension (RFC 3739 §3.2.6).
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")

DEFAULT_PASSWORD = "demo-pin-1234"  # noqa: S105 - fictional demo PKCS#12 files only


@dataclass(frozen=True)
class DemoCitizen:
    """One citizen certificate of the demo PKI, as listed in ``manifest.json``."""

    slug: str
    name: str
    identifier: str
    key: str  # rsa2048, rsa3072, ec-p256
    status: str  # valid, revoked, expired, not-yet-valid, wrong-key-usage, untrusted
    hardware: bool
    p12: str
    certificate: str
    serial: int


#: (slug, name, 12-digit number, key type, status, hardware token?)
CITIZENS = (
    ("an", "Nguyễn Văn An", "001085000123", "rsa2048", "valid", True),
    ("binh", "Trần Thị Bình", "079190000456", "rsa3072", "valid", False),
    ("cuong", "Lê Văn Cường", "048095001234", "ec-p256", "valid", True),
    ("dung", "Phạm Thị Dung", "031188004321", "rsa2048", "revoked", False),
    ("em", "Hoàng Văn Em", "038092005555", "ec-p256", "expired", False),
    ("giang", "Vũ Thị Giang", "036193006666", "ec-p256", "not-yet-valid", False),
    ("hai", "Đặng Văn Hải", "092087007777", "rsa2048", "wrong-key-usage", False),
    ("khanh", "Bùi Thị Khánh", "001196008888", "ec-p256", "untrusted", False),
)


def _key(kind: str):
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, *, organization: str | None = None, uid: str | None = None,
          province: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if province:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province))
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if uid:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(attributes)


def _ca(subject: x509.Name, key, issuer_cert, issuer_key, *, now: datetime, path_length: int | None,
        crl_url: str | None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if crl_url:
        builder = builder.add_extension(_crl_distribution_points(crl_url), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _qc_statements(hardware: bool) -> x509.UnrecognizedExtension:
    """qcStatements: every citizen certificate of the demo CA is qualified (QcCompliance); those
    whose key is on a USB token also say QcSSCD. cryptography has no type for it: DER by hand."""
    from asn1crypto import core

    def statement(oid: str) -> core.Sequence:
        return core.Sequence.load(core.Sequence(contents=core.ObjectIdentifier(oid).dump()).dump())

    statements = [statement(QC_COMPLIANCE)] + ([statement(QC_SSCD)] if hardware else [])
    der = core.SequenceOf(statements, spec=core.Sequence).dump()
    return x509.UnrecognizedExtension(QC_STATEMENTS, der)


def _crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None,
        crl_issuer=None)])


def _citizen_certificate(name: str, identifier: str, key, issuer_cert, issuer_key, *, now: datetime,
                         status: str, hardware: bool, crl_url: str | None,
                         ocsp_url: str | None) -> x509.Certificate:
    not_before, not_after = now - timedelta(days=30), now + timedelta(days=730)
    if status == "expired":
        not_before, not_after = now - timedelta(days=800), now - timedelta(days=2)
    elif status == "not-yet-valid":
        not_before, not_after = now + timedelta(days=5), now + timedelta(days=735)
    signing = status != "wrong-key-usage"
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name, uid=f"CCCD:{identifier}"))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=signing, content_commitment=signing,
                                     key_encipherment=not signing, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
            x509.ObjectIdentifier(POLICY_QSCD if hardware else POLICY_SOFTWARE), None)]),
            critical=False)
        .add_extension(_qc_statements(hardware), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(_crl_distribution_points(crl_url), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(issuer_cert, issuer_key, revoked: list[tuple[int, datetime]], *, now: datetime,
         number: int = 1) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(now - timedelta(hours=1))
        .next_update(now + timedelta(days=7))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_demo_pki(out_dir: str | Path, *, base_url: str | None = "http://127.0.0.1:8000/demo-pki",
                  password: str = DEFAULT_PASSWORD, ocsp_url: str | None = None,
                  now: datetime | None = None, extra_citizens: tuple = ()) -> dict:
    """Write the demo PKI into ``out_dir`` and return its manifest (also saved as manifest.json).

    ``base_url`` is where the CRLs are published (``root-ca.crl``, ``issuing-ca.crl``): the
    certificates' CRL distribution points name it; ``None`` makes certificates that name no
    distribution point (their CRLs reach a server only through a configured folder, file or
    URL, as some CAs publish them). ``ocsp_url``, if given, is named as the
    citizens' OCSP responder. Files: ``root-ca.pem``, ``issuing-ca.pem``, ``*.crl`` (DER),
    ``unknown-root-ca.pem`` (a CA nobody trusts) and per citizen ``<slug>.p12`` and ``<slug>.pem``.
    ``extra_citizens``: more rows shaped like :data:`CITIZENS` (the sandbox's demo account).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    base_url = base_url.rstrip("/") if base_url else None

    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _ca(_name("Demo National Root CA", organization="Demo National Certification Authority"),
               root_key, None, root_key, now=now, path_length=1, crl_url=None)
    issuing_key = ec.generate_private_key(ec.SECP384R1())
    issuing = _ca(_name("Demo Citizen Signing CA", organization="Demo National Certification Authority"),
                  issuing_key, root, root_key, now=now, path_length=0,
                  crl_url=f"{base_url}/root-ca.crl" if base_url else None)
    unknown_key = ec.generate_private_key(ec.SECP256R1())
    unknown = _ca(_name("Unaccredited CA", organization="Nobody Trusts Us Ltd"), unknown_key, None,
                  unknown_key, now=now, path_length=0, crl_url=None)

    citizens: list[DemoCitizen] = []
    revoked: list[tuple[int, datetime]] = []
    revoked_at = now - timedelta(days=10)
    for slug, name, identifier, kind, status, hardware in (*CITIZENS, *extra_citizens):
        key = _key(kind)
        untrusted = status == "untrusted"
        cert = _citizen_certificate(
            name, identifier, key, unknown if untrusted else issuing,
            unknown_key if untrusted else issuing_key, now=now, status=status, hardware=hardware,
            crl_url=None if untrusted or not base_url else f"{base_url}/issuing-ca.crl",
            ocsp_url=ocsp_url)
        if status == "revoked":
            revoked.append((cert.serial_number, revoked_at))
        chain = [unknown] if untrusted else [issuing, root]
        (out / f"{slug}.p12").write_bytes(pkcs12.serialize_key_and_certificates(
            slug.encode(), key, cert, chain,
            serialization.BestAvailableEncryption(password.encode())))
        (out / f"{slug}.pem").write_bytes(_pem(cert))
        citizens.append(DemoCitizen(slug, name, identifier, kind, status, hardware, f"{slug}.p12",
                                    f"{slug}.pem", cert.serial_number))

    (out / "root-ca.pem").write_bytes(_pem(root))
    (out / "issuing-ca.pem").write_bytes(_pem(issuing))
    (out / "unknown-root-ca.pem").write_bytes(_pem(unknown))
    (out / "root-ca.crl").write_bytes(
        _crl(root, root_key, [], now=now).public_bytes(serialization.Encoding.DER))
    (out / "issuing-ca.crl").write_bytes(
        _crl(issuing, issuing_key, revoked, now=now).public_bytes(serialization.Encoding.DER))
    # Kept so tests can issue fresh CRLs or OCSP responses; a real CA never lets these out.
    (out / "issuing-ca.key").write_bytes(issuing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    manifest = {
        "created": now.isoformat(),
        "password": password,
        "crl_base_url": base_url,
        "ocsp_url": ocsp_url,
        "root": "root-ca.pem",
        "issuing": "issuing-ca.pem",
        "crls": ["root-ca.crl", "issuing-ca.crl"],
        "revoked_at": revoked_at.isoformat(),
        "citizens": [asdict(c) | {"serial": str(c.serial)} for c in citizens],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return manifest
