"""Interoperability with OpenSSL's CMS implementation, and the demo PKI and signer commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from idp.signatures.documents import verify_document
from idp.signatures.validation import SignaturePolicy
from tests.signatures.conftest import ROOT

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
SIGNER = [sys.executable, str(ROOT / "clients" / "signer" / "idp_signer.py")]
DOCUMENT = "Hợp đồng mua bán nhà ở\n".encode() * 50


@pytest.fixture
def policy(trust_dir, demo_pki) -> SignaturePolicy:
    return SignaturePolicy(trust_dir=trust_dir, crl_sources=(str(demo_pki["dir"]),), ocsp=False)


@pytest.fixture
def pem_files(tmp_path, demo_pki):
    """slug -> PEM holding the key and certificate (what ``openssl cms -signer`` takes)."""
    def make(slug: str):
        out = tmp_path / f"{slug}-key-and-cert.pem"
        subprocess.run([OPENSSL, "pkcs12", "-in", str(demo_pki["dir"] / f"{slug}.p12"), "-nodes",
                        "-passin", f"pass:{demo_pki['password']}", "-out", str(out)], check=True,
                       capture_output=True)
        return out
    return make


@needs_openssl
@pytest.mark.parametrize(("slug", "extra"), [("an", []), ("cuong", ["-md", "sha384"]),
                                             ("binh", ["-keyopt", "rsa_padding_mode:pss"])])
def test_openssl_detached_signature_verifies(tmp_path, demo_pki, pem_files, policy, slug, extra):
    document = tmp_path / "document.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "document.p7s"
    subprocess.run([OPENSSL, "cms", "-sign", "-binary", "-in", str(document), "-signer", str(pem_files(slug)),
                    "-certfile", str(demo_pki["dir"] / "issuing-ca.pem"), "-outform", "DER",
                    "-out", str(signature), *extra], check=True, capture_output=True)
    with document.open("rb") as stream:
        verdict = verify_document(signature.read_bytes(), stream, policy)
    assert verdict["valid"] is True, verdict["failures"]
    assert verdict["signer"]["identifier"]["value"] == demo_pki["by_slug"][slug]["identifier"]


@needs_openssl
def test_openssl_enveloping_signature_verifies(tmp_path, demo_pki, pem_files, policy):
    document = tmp_path / "document.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "document.p7m"
    subprocess.run([OPENSSL, "cms", "-sign", "-binary", "-nodetach", "-in", str(document),
                    "-signer", str(pem_files("an")), "-certfile", str(demo_pki["dir"] / "issuing-ca.pem"),
                    "-outform", "PEM", "-out", str(signature)], check=True, capture_output=True)
    verdict = verify_document(signature.read_bytes(), None, policy)
    assert verdict["valid"] is True, verdict["failures"]
    assert verdict["signature_format"] == "cms-enveloping"


@needs_openssl
def test_openssl_signature_over_a_changed_document_is_refused(tmp_path, pem_files, demo_pki, policy):
    document = tmp_path / "document.txt"
    document.write_bytes(DOCUMENT)
    signature = subprocess.run([OPENSSL, "cms", "-sign", "-binary", "-in", str(document),
                                "-signer", str(pem_files("cuong")), "-outform", "DER",
                                "-certfile", str(demo_pki["dir"] / "issuing-ca.pem")],
                               check=True, capture_output=True).stdout
    verdict = verify_document(signature, DOCUMENT + b"!", policy)
    assert [f["code"] for f in verdict["failures"]] == ["bad_signature"]


def _run_signer(demo_pki, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "IDP_SIGNER_PASSWORD": demo_pki["password"]}
    return subprocess.run([*SIGNER, *args], env=env, capture_output=True, timeout=60)


@needs_openssl
@pytest.mark.parametrize(("slug", "extra"), [("an", []), ("cuong", ["--hash", "sha512"]),
                                             ("binh", ["--pss"]), ("an", ["--attached"])])
def test_signer_tool_signature_verifies_with_openssl_cms_verify(tmp_path, demo_pki, slug, extra):
    document = tmp_path / "contract.txt"
    document.write_bytes(DOCUMENT)
    signature = tmp_path / "contract.p7s"
    made = _run_signer(demo_pki, "--p12", str(demo_pki["dir"] / f"{slug}.p12"), "--document", str(document),
                       "--format", "der", "--out", str(signature), *extra)
    assert made.returncode == 0, made.stderr
    command = [OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
               "-CAfile", str(demo_pki["dir"] / "root-ca.pem"), "-purpose", "any",
               "-out", str(tmp_path / "out")]
    if "--attached" not in extra:
        command += ["-content", str(document)]
    checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "Verification successful" in checked.stderr
    assert (tmp_path / "out").read_bytes() == DOCUMENT


def test_signer_tool_prints_base64_cms_over_a_challenge_and_a_jws(demo_pki, policy):
    challenge = "idp-signin http://127.0.0.1:8000 abc"
    made = _run_signer(demo_pki, "--p12", str(demo_pki["dir"] / "cuong.p12"), "--challenge", challenge)
    assert made.returncode == 0, made.stderr
    verdict = verify_document(made.stdout, challenge.encode(), policy)
    assert verdict["valid"] is True, verdict["failures"]
    token = _run_signer(demo_pki, "--p12", str(demo_pki["dir"] / "cuong.p12"), "--challenge", challenge,
                        "--jws")
    assert token.returncode == 0 and token.stdout.count(b".") == 2


def test_signer_tool_says_so_when_the_password_is_wrong(demo_pki, tmp_path):
    env = {**os.environ, "IDP_SIGNER_PASSWORD": "wrong"}
    made = subprocess.run([*SIGNER, "--p12", str(demo_pki["dir"] / "an.p12"), "--challenge", "x"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 1
    assert "wrong password" in made.stderr
    assert "Traceback" not in made.stderr


def test_demo_pki_script_writes_the_pki_and_its_manifest(tmp_path):
    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_pki.py"), str(tmp_path / "pki"),
                           "--base-url", "http://127.0.0.1:9999/crl"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "pki" / "manifest.json").read_text(encoding="utf-8"))
    assert {c["key"] for c in manifest["citizens"]} == {"rsa2048", "rsa3072", "ec-p256"}
    assert {c["status"] for c in manifest["citizens"]} >= {"valid", "revoked", "expired", "wrong-key-usage",
                                                           "untrusted"}
    for citizen in manifest["citizens"]:
        assert (tmp_path / "pki" / citizen["p12"]).is_file()
    for name in ("root-ca.pem", "issuing-ca.pem", "issuing-ca.crl", "root-ca.crl", "unknown-root-ca.pem"):
        assert (tmp_path / "pki" / name).is_file()
