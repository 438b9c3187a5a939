"""Revocation of a certificate that names no CRL distribution point and no OCSP responder
(RFC 5280 §6.3: the CRLs an operator configures in ``IDP_SIGNATURE_CRL_SOURCES`` are searched
for the serial whatever the certificate declares), and one answer for the certificate sign-in
(``/login/certificate``) and the document verification API (``/api/signatures/verify``) alike.

The PKI here is the demo PKI made with ``base_url=None``: its CA and citizen certificates carry
no distribution point and no Authority Information Access; its CRLs reach the server only
through a configured folder.
"""

from __future__ import annotations

import base64
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from idp.signatures.demo_pki import make_demo_pki
from idp.signatures.validation import SignaturePolicy, leaf_revocation, validate_signer
from tests.signatures.conftest import agency_client, client_credentials_token
from tests.signatures.test_certificate_signin import cms, make_account, open_page, submit, text_of

DOCUMENT = "Quyết định số 15/QĐ-UBND\n".encode() * 50


@pytest.fixture(scope="session")
def quiet_pki(tmp_path_factory, signer) -> dict:
    """A demo PKI whose certificates declare no revocation source (and its citizens' keys)."""
    directory = tmp_path_factory.mktemp("quiet-pki")
    manifest = make_demo_pki(directory, base_url=None, ocsp_url=None)
    manifest["dir"] = directory
    manifest["by_slug"] = {c["slug"]: c for c in manifest["citizens"]}
    manifest["keys"] = {c["slug"]: signer.load_p12((directory / c["p12"]).read_bytes(), manifest["password"])
                        for c in manifest["citizens"]}
    return manifest


@pytest.fixture
def crl_folder(tmp_path, quiet_pki) -> Path:
    """The operator's CRL folder, holding both CAs' current CRLs."""
    folder = tmp_path / "crls"
    folder.mkdir()
    for name in quiet_pki["crls"]:
        shutil.copy(quiet_pki["dir"] / name, folder / name)
    return folder


@pytest.fixture
def trust_dir(tmp_path, quiet_pki) -> Path:
    directory = tmp_path / "keys" / "trust"
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(quiet_pki["dir"] / "root-ca.pem", directory / "quiet-root.pem")
    return directory


@pytest.fixture
def environ(environ, crl_folder) -> dict[str, str]:
    return {**environ, "IDP_SIGNATURE_CRL_SOURCES": str(crl_folder), "IDP_SIGNATURE_REVOCATION": "hard-fail"}


@pytest.fixture
def browser(app):
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


@pytest.fixture
def agency(app):
    client_id, secret = agency_client(app)
    agency = app.test_client()
    agency.environ_base["HTTP_AUTHORIZATION"] = (
        f"Bearer {client_credentials_token(app.test_client(), client_id, secret)}")
    return agency


def _certificate(quiet_pki, slug: str) -> x509.Certificate:
    return quiet_pki["keys"][slug][1]


def _sign_in(app, browser, quiet_pki, signer, slug: str):
    make_account(app, quiet_pki, slug)
    page = open_page(browser)
    return submit(browser, page, cms(signer, quiet_pki["keys"], slug, page["challenge"]))


def _verify_document(agency, signer, quiet_pki, slug: str) -> dict:
    signature = signer.sign_cms(DOCUMENT, *quiet_pki["keys"][slug])
    response = agency.post("/api/signatures/verify", content_type="multipart/form-data", data={
        "signature": (io.BytesIO(signature), "document.p7s"), "document": (io.BytesIO(DOCUMENT), "d.pdf")})
    assert response.status_code == 200
    return response.get_json()


def test_the_quiet_pki_declares_no_revocation_source(quiet_pki):
    for slug in ("an", "dung"):
        extensions = {e.oid for e in _certificate(quiet_pki, slug).extensions}
        assert x509.ExtensionOID.CRL_DISTRIBUTION_POINTS not in extensions
        assert x509.ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in extensions


def test_a_certificate_naming_no_crl_but_revoked_in_the_configured_folder_is_refused_by_both_paths(
        app, browser, agency, quiet_pki, signer):
    response = _sign_in(app, browser, quiet_pki, signer, "dung")
    assert response.status_code == 403
    assert "This certificate has been revoked by its certification authority" in text_of(response)
    assert quiet_pki["revoked_at"][:10] in text_of(response)

    verdict = _verify_document(agency, signer, quiet_pki, "dung")
    assert verdict["valid"] is False
    assert [f["code"] for f in verdict["failures"]] == ["revoked"]
    assert verdict["failures"][0]["revocation_reason"] == "key_compromise"
    assert verdict["revocation"] == {"status": "revoked", "revoked_at": quiet_pki["revoked_at"]}


def test_an_issuer_crl_that_does_not_list_the_serial_is_good_for_both_paths(app, browser, agency, quiet_pki,
                                                                          signer):
    response = _sign_in(app, browser, quiet_pki, signer, "an")
    assert response.status_code == 303, text_of(response)

    verdict = _verify_document(agency, signer, quiet_pki, "an")
    assert verdict["valid"] is True, verdict["failures"]
    assert verdict["revocation"] == {"status": "good", "revoked_at": None}


def test_under_hard_fail_no_crl_for_the_issuer_refuses_both_paths_naming_the_reason(
        app, browser, agency, quiet_pki, signer, crl_folder):
    (crl_folder / "issuing-ca.crl").unlink()
    response = _sign_in(app, browser, quiet_pki, signer, "an")
    assert response.status_code == 403
    assert "Whether this certificate has been revoked could not be checked" in text_of(response)

    verdict = _verify_document(agency, signer, quiet_pki, "an")
    assert verdict["valid"] is False
    assert [f["code"] for f in verdict["failures"]] == ["revocation_unavailable"]
    assert verdict["revocation"]["status"] == "unknown"


# -- the rule itself, on the same certificates -----------------------------------------------------


def _policy(trust_dir, *sources, revocation="hard-fail") -> SignaturePolicy:
    return SignaturePolicy(trust_dir=trust_dir, revocation=revocation, crl_sources=tuple(sources), ocsp=False)


def _issuing(quiet_pki) -> x509.Certificate:
    return x509.load_pem_x509_certificate((quiet_pki["dir"] / "issuing-ca.pem").read_bytes())


def _stale_crl(quiet_pki, revoked: list[int]) -> bytes:
    """An issuing-CA CRL whose nextUpdate has passed."""
    issuing = _issuing(quiet_pki)
    key = serialization.load_pem_private_key((quiet_pki["dir"] / "issuing-ca.key").read_bytes(), None)
    now = datetime.now(UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
               .last_update(now - timedelta(days=9)).next_update(now - timedelta(days=2)))
    for serial in revoked:
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                                  .revocation_date(now - timedelta(days=8)).build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_soft_fail_accepts_with_unknown_status_when_no_crl_covers_the_certificate(quiet_pki, trust_dir,
                                                                                  crl_folder):
    (crl_folder / "issuing-ca.crl").unlink()
    report = validate_signer(_certificate(quiet_pki, "an"), [_issuing(quiet_pki)],
                             _policy(trust_dir, str(crl_folder), revocation="soft-fail"), signing_time=None)
    assert report.ok, report.failures
    assert report.revocation == "unknown"


def test_soft_fail_still_refuses_a_certificate_a_configured_crl_lists(quiet_pki, trust_dir, crl_folder):
    report = validate_signer(_certificate(quiet_pki, "dung"), [_issuing(quiet_pki)],
                             _policy(trust_dir, str(crl_folder), revocation="soft-fail"), signing_time=None)
    assert [f.code for f in report.failures] == ["revoked"]


def test_a_stale_crl_is_no_fresh_answer_but_still_proves_a_revocation(quiet_pki, trust_dir, crl_folder):
    revoked = _certificate(quiet_pki, "dung").serial_number
    (crl_folder / "issuing-ca.crl").write_bytes(_stale_crl(quiet_pki, [revoked]))
    an = validate_signer(_certificate(quiet_pki, "an"), [_issuing(quiet_pki)],
                         _policy(trust_dir, str(crl_folder)), signing_time=None)
    assert [f.code for f in an.failures] == ["revocation_unavailable"]
    dung = validate_signer(_certificate(quiet_pki, "dung"), [_issuing(quiet_pki)],
                           _policy(trust_dir, str(crl_folder)), signing_time=None)
    assert [f.code for f in dung.failures] == ["revoked"]


def test_a_crl_from_another_ca_with_the_same_name_says_nothing(quiet_pki, demo_pki):
    """The demo PKI's issuing CA has the same name but another key: its CRL is not believed."""
    other_crl = (demo_pki["dir"] / "issuing-ca.crl").read_bytes()
    status = leaf_revocation(_certificate(quiet_pki, "an"), _issuing(quiet_pki), [other_crl], [])
    assert not status.good and not status.revoked


def test_a_sign_in_signature_claiming_a_time_before_its_challenge_is_refused_like_a_future_document(
        app, browser, agency, quiet_pki):
    """validate_signer bounds the claimed signingTime for both uses: a sign-in signature cannot
    be older than the challenge it signs (2 minutes), a document cannot be signed in the future."""
    from tests.signatures.test_documents import _signed_at

    make_account(app, quiet_pki, "an")
    page = open_page(browser)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    old = _signed_at(*quiet_pki["keys"]["an"], page["challenge"].encode(), yesterday)
    response = submit(browser, page, base64.b64encode(old).decode())
    assert response.status_code == 400
    assert "The signing time in the signature is in the future or before this challenge" in text_of(response)

    future = _signed_at(*quiet_pki["keys"]["an"], DOCUMENT, datetime.now(UTC) + timedelta(days=1))
    verdict = agency.post("/api/signatures/verify", content_type="multipart/form-data", data={
        "signature": (io.BytesIO(future), "d.p7s"), "document": (io.BytesIO(DOCUMENT), "d.pdf")}).get_json()
    assert [f["code"] for f in verdict["failures"]] == ["invalid_signing_time"]
