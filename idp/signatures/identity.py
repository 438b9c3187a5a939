"""Who a signature certificate names: the citizen's national identifier, name, and key storage.

Vietnamese accredited CAs carry the 12-digit personal identification number in the subject's
``UID`` attribute (0.9.2342.19200300.100.1.1) as ``CCCD:<number>`` (older certificates
``CMND:<number>``; some CAs ``PID:``), and some put the same in ``serialNumber`` (2.5.4.5).
Russian qualified certificates carry SNILS in the attribute 1.2.643.100.3 (Federal Law 63-FZ,
FSB order 795, §17). Whether the key is on hardware is read from the certificate policies
(``IDP_SIGNATURE_HARDWARE_POLICIES``) or the ETSI QcStatement QcSSCD (EN 319 412-5 §4.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

SCHEME_VN = "vn-pin"
SCHEME_SNILS = "ru-snils"

_VN_PREFIXES = ("CCCD:", "CMND:", "PID:", "DDCN:")
_OID_SNILS = x509.ObjectIdentifier("1.2.643.100.3")
#: id-etsi-qcs-QcSSCD: the private key resides in a qualified signature creation device.
_OID_QC_SSCD = "0.4.0.1862.1.4"
#: id-etsi-qcs-QcCompliance: a qualified certificate (EN 319 412-5 §4.2.1).
_OID_QC_COMPLIANCE = "0.4.0.1862.1.1"
_OID_QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")

AMR_HARDWARE = "hwk"
AMR_SOFTWARE = "swk"


@dataclass(frozen=True)
class NationalId:
    scheme: str
    value: str


def _attribute_values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    values = []
    for attribute in name.get_attributes_for_oid(oid):
        value = attribute.value
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        values.append(value.strip())
    return values


def citizen_identifier(certificate: x509.Certificate) -> NationalId | None:
    """The national identifier the certificate's subject carries, or None."""
    subject = certificate.subject
    for oid in (NameOID.USER_ID, NameOID.SERIAL_NUMBER):
        for value in _attribute_values(subject, oid):
            for prefix in _VN_PREFIXES:
                if value.upper().startswith(prefix):
                    number = value[len(prefix):].strip()
                    if len(number) == 12 and number.isascii() and number.isdigit():
                        return NationalId(SCHEME_VN, number)
    for value in _attribute_values(subject, _OID_SNILS):
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) == 11 and value.isascii():
            return NationalId(SCHEME_SNILS, digits)
    return None


def subject_name(certificate: x509.Certificate) -> str | None:
    """The signer's name as written in the certificate (its common name)."""
    names = _attribute_values(certificate.subject, NameOID.COMMON_NAME)
    return names[0] if names else None


def key_storage_amr(certificate: x509.Certificate, hardware_policies: frozenset[str]) -> str:
    """RFC 8176 ``hwk`` when the certificate says its key is on a token or QSCD, else ``swk``."""
    try:
        policies = certificate.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
        if any(p.policy_identifier.dotted_string in hardware_policies for p in policies):
            return AMR_HARDWARE
    except x509.ExtensionNotFound:
        pass
    try:
        statements = certificate.extensions.get_extension_for_oid(_OID_QC_STATEMENTS).value
    except x509.ExtensionNotFound:
        return AMR_SOFTWARE
    return AMR_HARDWARE if _OID_QC_SSCD in _qc_statement_ids(statements.value) else AMR_SOFTWARE


def device_verifies_activation(certificate: x509.Certificate) -> bool:
    """Whether the key can sign only after the device has checked the holder's PIN.

    True only for the ETSI QcStatement QcSSCD (EN 319 412-5 §4.2.2): the CA states, under its
    qualified status, that the key is in a qualified signature creation device, and a QSCD is
    certified (EN 419 211, eIDAS Annex II) to use the key only after verifying the signatory's
    activation data, for each signature. That is RFC 8176 ``pin`` ("a PIN ... that a user
    enters to unlock a key on the device"), checked by the device rather than by this server.
    A hardware certificate policy (``IDP_SIGNATURE_HARDWARE_POLICIES``) says only where the
    key is (``hwk``), not that a PIN guards each use: it never adds ``pin``.
    """
    try:
        statements = certificate.extensions.get_extension_for_oid(_OID_QC_STATEMENTS).value
    except x509.ExtensionNotFound:
        return False
    return _OID_QC_SSCD in _qc_statement_ids(statements.value)


def is_qualified(certificate: x509.Certificate) -> bool:
    """A qualified certificate: its qcStatements say QcCompliance (ETSI EN 319 412-5 §4.2.1).

    Only meaningful once the path is validated: anyone can write the statement into a
    certificate, only an accredited CA's says anything.
    """
    try:
        statements = certificate.extensions.get_extension_for_oid(_OID_QC_STATEMENTS).value
    except x509.ExtensionNotFound:
        return False
    return _OID_QC_COMPLIANCE in _qc_statement_ids(statements.value)


def _qc_statement_ids(der: bytes) -> set[str]:
    from asn1crypto import core

    class _QcStatement(core.Sequence):
        _fields = [("statement_id", core.ObjectIdentifier), ("statement_info", core.Any, {"optional": True})]

    class _QcStatements(core.SequenceOf):
        _child_spec = _QcStatement

    try:
        return {s["statement_id"].dotted for s in _QcStatements.load(der)}
    except (ValueError, TypeError):
        return set()
