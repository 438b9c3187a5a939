"""Certificate path validation (RFC 5280 §6) of the demo PKI's citizen certificates."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.signatures.identity import (
    AMR_HARDWARE,
    AMR_SOFTWARE,
    SCHEME_SNILS,
    SCHEME_VN,
    NationalId,
    citizen_identifier,
    key_storage_amr,
)
from idp.signatures.validation import SignaturePolicy, validate_certificate

HARDWARE = frozenset({"0.4.0.194112.1.2"})


def _cert(demo_pki, slug: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((demo_pki["dir"] / f"{slug}.pem").read_bytes())


def _issuing(demo_pki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate((demo_pki["dir"] / "issuing-ca.pem").read_bytes())]


def _policy(trust_dir, *sources, revocation="hard-fail", ocsp=False) -> SignaturePolicy:
    return SignaturePolicy(trust_dir=trust_dir, revocation=revocation, crl_sources=tuple(sources), ocsp=ocsp,
                           hardware_policies=HARDWARE)


@pytest.mark.parametrize(("slug", "code"), [
    ("dung", "revoked"),
    ("em", "expired"),
    ("giang", "not_yet_valid"),
    ("hai", "wrong_key_usage"),
    ("khanh", "unknown_issuer"),
])
def test_each_defective_certificate_is_refused_with_its_reason(demo_pki, trust_dir, slug, code):
    report = validate_certificate(_cert(demo_pki, slug), _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"])))
    assert not report.ok
    assert [f.code for f in report.failures] == [code]
    assert report.failures[0].message


@pytest.mark.parametrize("slug", ["an", "binh", "cuong"])
def test_valid_rsa_and_ecdsa_certificates_chain_to_the_trusted_root_with_crl_good(demo_pki, trust_dir, slug):
    report = validate_certificate(_cert(demo_pki, slug), _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"])))
    assert report.ok, report.failures
    assert report.revocation == "good"
    assert report.identifier == NationalId(SCHEME_VN, demo_pki["by_slug"][slug]["identifier"])
    assert report.name == demo_pki["by_slug"][slug]["name"]


def test_revoked_certificate_reports_the_revocation_date_from_the_crl(demo_pki, trust_dir):
    report = validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"])))
    assert report.revocation == "revoked"
    assert report.revoked_at == datetime.fromisoformat(demo_pki["revoked_at"])
    assert report.failures[0].details["revoked_at"] == demo_pki["revoked_at"]
    assert report.failures[0].details["revocation_reason"] == "key_compromise"


def test_nothing_is_trusted_until_the_root_is_in_the_trust_folder(demo_pki, tmp_path):
    empty = tmp_path / "empty-trust"
    empty.mkdir()
    report = validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki),
                                  _policy(empty, str(demo_pki["dir"])))
    assert [f.code for f in report.failures] == ["unknown_issuer"]


def test_an_intermediate_sent_with_the_signature_is_not_a_trust_anchor(demo_pki, tmp_path):
    only_unknown = tmp_path / "t"
    only_unknown.mkdir()
    shutil.copy(demo_pki["dir"] / "unknown-root-ca.pem", only_unknown / "x.pem")
    report = validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki),
                                  _policy(only_unknown, str(demo_pki["dir"])))
    assert [f.code for f in report.failures] == ["unknown_issuer"]


def test_hard_fail_refuses_when_the_crl_cannot_be_had(demo_pki, trust_dir, pki_server):
    pki_server.down = True
    report = validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki),
                                  _policy(trust_dir, "distribution-points"))
    assert [f.code for f in report.failures] == ["revocation_unavailable"]
    assert report.revocation == "unknown"


def test_soft_fail_accepts_with_unknown_status_when_the_crl_cannot_be_had(demo_pki, trust_dir, pki_server):
    pki_server.down = True
    report = validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki),
                                  _policy(trust_dir, "distribution-points", revocation="soft-fail"))
    assert report.ok
    assert report.revocation == "unknown"


def test_soft_fail_still_refuses_a_certificate_the_crl_lists(demo_pki, trust_dir):
    report = validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"]), revocation="soft-fail"))
    assert [f.code for f in report.failures] == ["revoked"]


def test_crls_from_distribution_points_are_fetched_once_and_cached_until_next_update(
        demo_pki, trust_dir, pki_server):
    before = pki_server.hits["/issuing-ca.crl"]
    policy = _policy(trust_dir, "distribution-points")
    for _ in range(3):
        assert validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki), policy).revocation == "good"
    assert validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki), policy).revocation == "revoked"
    assert pki_server.hits["/issuing-ca.crl"] - before == 1


def test_crl_from_a_configured_url(demo_pki, trust_dir, pki_server):
    policy = _policy(trust_dir, f"{pki_server.url}/issuing-ca.crl", f"{pki_server.url}/root-ca.crl")
    report = validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki), policy)
    assert [f.code for f in report.failures] == ["revoked"]


def test_a_crl_not_signed_by_the_issuer_is_not_believed(demo_pki, trust_dir, tmp_path):
    forged_dir = tmp_path / "forged"
    forged_dir.mkdir()
    shutil.copy(demo_pki["dir"] / "root-ca.crl", forged_dir / "root-ca.crl")
    issuing = _issuing(demo_pki)[0]
    other_key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.now(issuing.not_valid_before_utc.tzinfo)
    forged = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
              .last_update(now - timedelta(hours=1)).next_update(now + timedelta(days=1))
              .sign(other_key, hashes.SHA256()))
    (forged_dir / "issuing-ca.crl").write_bytes(forged.public_bytes(serialization.Encoding.DER))
    report = validate_certificate(_cert(demo_pki, "an"), _issuing(demo_pki),
                                  _policy(trust_dir, str(forged_dir)))
    assert [f.code for f in report.failures] == ["revocation_unavailable"]


def test_ocsp_responder_named_by_the_certificate_is_asked(demo_pki, trust_dir, pki_server):
    before = pki_server.hits["/ocsp"]
    good = validate_certificate(_cert(demo_pki, "cuong"), _issuing(demo_pki),
                                _policy(trust_dir, f"{pki_server.url}/root-ca.crl", ocsp=True))
    assert good.ok, good.failures
    assert good.revocation == "good"
    revoked = validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki),
                                   _policy(trust_dir, f"{pki_server.url}/root-ca.crl", ocsp=True))
    assert [f.code for f in revoked.failures] == ["revoked"]
    assert revoked.revoked_at == datetime.fromisoformat(demo_pki["revoked_at"])
    assert pki_server.hits["/ocsp"] - before == 2


def test_validity_at_signing_time_accepts_a_since_expired_certificate(demo_pki, trust_dir):
    expired = _cert(demo_pki, "em")
    at = expired.not_valid_after_utc - timedelta(days=30)
    report = validate_certificate(expired, _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"])), at=at)
    assert report.ok, report.failures


def test_a_claimed_signing_time_before_revocation_does_not_save_a_revoked_certificate(demo_pki, trust_dir):
    at = datetime.fromisoformat(demo_pki["revoked_at"]) - timedelta(days=1)
    report = validate_certificate(_cert(demo_pki, "dung"), _issuing(demo_pki),
                                  _policy(trust_dir, str(demo_pki["dir"])), at=at)
    assert [f.code for f in report.failures] == ["revoked"]
    assert report.revoked_at == datetime.fromisoformat(demo_pki["revoked_at"])


def _with_subject(*attributes) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "X"), *attributes])
    now = datetime.now().astimezone()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))


@pytest.mark.parametrize(("attribute", "expected"), [
    (x509.NameAttribute(NameOID.USER_ID, "CCCD:001085000123"), NationalId(SCHEME_VN, "001085000123")),
    (x509.NameAttribute(NameOID.USER_ID, "CMND:079190000456"), NationalId(SCHEME_VN, "079190000456")),
    (x509.NameAttribute(NameOID.SERIAL_NUMBER, "CCCD:048095001234"), NationalId(SCHEME_VN, "048095001234")),
    (x509.NameAttribute(x509.ObjectIdentifier("1.2.643.100.3"), "11223344595"),
     NationalId(SCHEME_SNILS, "11223344595")),
    (x509.NameAttribute(NameOID.USER_ID, "MST:0101234567"), None),
    (x509.NameAttribute(NameOID.USER_ID, "CMND:012345678"), None),  # old 9-digit card: not the PIN
    (x509.NameAttribute(NameOID.USER_ID, "CCCD:00108500012x"), None),
])
def test_identifier_is_read_the_way_vietnamese_and_russian_cas_write_it(attribute, expected):
    assert citizen_identifier(_with_subject(attribute)) == expected


def test_amr_is_hwk_for_a_token_policy_and_swk_otherwise(demo_pki):
    assert key_storage_amr(_cert(demo_pki, "an"), HARDWARE) == AMR_HARDWARE
    assert key_storage_amr(_cert(demo_pki, "binh"), HARDWARE) == AMR_SOFTWARE


def test_a_certificate_outside_the_trusted_pki_never_makes_the_server_fetch(demo_pki, trust_dir, pki_server):
    before = sum(pki_server.hits.values())
    stranger_ca = _cert(demo_pki, "unknown-root-ca")  # sent along, as an attacker would
    report = validate_certificate(_cert(demo_pki, "khanh"), [stranger_ca],
                                  _policy(trust_dir, "distribution-points", ocsp=True))
    assert [f.code for f in report.failures] == ["unknown_issuer"]
    assert sum(pki_server.hits.values()) == before
