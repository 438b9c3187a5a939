"""The demo PKI, made once per test session, published by a loopback HTTP server (CRLs and an
OCSP responder), and an app that trusts its root."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from idp.signatures import revocation
from idp.signatures.demo_pki import make_demo_pki

ROOT = Path(__file__).resolve().parents[2]


class PkiServer:
    """Serves the PKI folder's files (GET) and answers OCSP requests (POST /ocsp) from its CRL."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.hits: Counter[str] = Counter()
        self.down = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # http.server's naming
                outer.hits[self.path] += 1
                path = outer.directory / self.path.lstrip("/")
                if outer.down or not path.is_file():
                    self.send_error(503 if outer.down else 404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                outer.hits[self.path] += 1
                request = ocsp.load_der_ocsp_request(self.rfile.read(int(self.headers["Content-Length"])))
                body = outer.ocsp_answer(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def ocsp_answer(self, request: ocsp.OCSPRequest) -> bytes:
        """RFC 6960 §2.2: signed by the issuing CA itself, good or revoked as its CRL says."""
        issuer = x509.load_pem_x509_certificate((self.directory / "issuing-ca.pem").read_bytes())
        key = serialization.load_pem_private_key((self.directory / "issuing-ca.key").read_bytes(), None)
        crl = x509.load_der_x509_crl((self.directory / "issuing-ca.crl").read_bytes())
        subject = next(c for c in _citizen_certs(self.directory) if c.serial_number == request.serial_number)
        entry = crl.get_revoked_certificate_by_serial_number(request.serial_number)
        now = datetime.now(UTC)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject, issuer=issuer, algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if entry else ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=5), next_update=now + timedelta(hours=1),
            revocation_time=entry.revocation_date_utc if entry else None,
            revocation_reason=x509.ReasonFlags.key_compromise if entry else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _citizen_certs(directory: Path) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.read_bytes()) for p in directory.glob("*.pem")
            if "ca" not in p.stem]


@pytest.fixture(scope="session")
def pki_server():
    server = PkiServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory, pki_server) -> dict:
    """The demo PKI (manifest plus ``dir``), its CRLs at ``pki_server.url``, OCSP at ``/ocsp``."""
    directory = tmp_path_factory.mktemp("demo-pki")
    manifest = make_demo_pki(directory, base_url=pki_server.url, ocsp_url=f"{pki_server.url}/ocsp")
    pki_server.directory = directory
    manifest["dir"] = directory
    manifest["by_slug"] = {c["slug"]: c for c in manifest["citizens"]}
    return manifest


@pytest.fixture(autouse=True)
def _fresh_revocation_caches(pki_server):
    revocation.clear_caches()
    pki_server.down = False
    yield
    revocation.clear_caches()


@pytest.fixture(scope="session")
def signer() -> ModuleType:
    """The citizen's signer tool (clients/signer/idp_signer.py) as a module."""
    spec = importlib.util.spec_from_file_location("idp_signer", ROOT / "clients" / "signer" / "idp_signer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def citizen_keys(demo_pki, signer) -> dict:
    """slug -> (key, certificate, chain) loaded from each PKCS#12 file."""
    return {c["slug"]: signer.load_p12((demo_pki["dir"] / c["p12"]).read_bytes(), demo_pki["password"])
            for c in demo_pki["citizens"]}


@pytest.fixture
def trust_dir(tmp_path, demo_pki) -> Path:
    directory = tmp_path / "keys" / "trust"
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_pki["dir"] / "root-ca.pem", directory / "demo-root.pem")
    return directory


@pytest.fixture
def environ(environ, trust_dir, demo_pki) -> dict[str, str]:
    """The app trusts the demo root and reads CRLs from the demo PKI folder; OCSP off."""
    assert Path(environ["IDP_KEYS_DIR"]) == trust_dir.parent
    return {**environ, "IDP_SIGNATURE_CRL_SOURCES": str(demo_pki["dir"]), "IDP_SIGNATURE_OCSP": "false"}


AGENCY = "agency-records"


def agency_client(app, *, client_id: str = AGENCY, scope: str = "signature.verify") -> tuple[str, str]:
    """An agency back-end registered for the client credentials grant; (client_id, secret)."""
    from tests.oidc_support import register

    return register(app, client_id=client_id, redirect_uris=[], grant_types=["client_credentials"],
                    scope=scope)


def client_credentials_token(client, client_id: str, secret: str, scope: str = "signature.verify") -> str:
    """An access token from POST /token with the client credentials grant (RFC 6749 §4.4)."""
    from tests.oidc_support import basic

    response = client.post("/token", headers=basic(client_id, secret),
                           data={"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.fixture
def agency_token(app) -> str:
    """A real access token with scope ``signature.verify``, obtained from /token."""
    client_id, secret = agency_client(app)
    return client_credentials_token(app.test_client(), client_id, secret)
