"""URLs the server fetches itself (``jwks_uri``, ``backchannel_logout_uri``,
``sector_identifier_uri``) never reach loopback, link-local or private networks (server-side
request forgery, RFC 9700 §4.16): refused at registration (``idp clients create/update``,
RFC 7591 registration) for literal addresses and loopback names, and at every request after
resolving the name, unless the operator lists the network in ``IDP_OUTBOUND_ALLOW_NETWORKS``."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from idp import create_app, outbound
from idp.db import db
from tests.admin_support import idp, idp_json
from tests.oidc_support import REDIRECT
from tests.schema import create_tables
from tests.test_oidc_jwks_uri_and_hints import _KeyServer, _token

INTERNAL = ["https://169.254.169.254/latest/meta-data/", "https://10.0.0.5/logout",
            "https://127.0.0.1:6379/", "https://[::ffff:10.0.0.5]/logout", "https://[::1]/logout",
            "https://100.64.0.1/logout", "https://0.0.0.0/logout", "https://[fd00::1]/logout",
            "https://localhost/logout", "https://224.0.0.1/logout"]


@pytest.fixture
def environ(environ):
    """The production default: no network allowed besides public ones."""
    return {k: v for k, v in environ.items() if k != "IDP_OUTBOUND_ALLOW_NETWORKS"}


def _app(environ, **settings):
    application = create_app({**environ, **settings})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    return application


@pytest.mark.parametrize("uri", INTERNAL)
def test_cli_refuses_an_internal_backchannel_logout_uri(app, uri):
    result = idp(app, "clients", "create", "--name", "Agency", "--redirect-uri", REDIRECT,
                 "--backchannel-logout-uri", uri)
    assert result.exit_code != 0
    assert "non-public address" in result.output or "loopback" in result.output, result.output
    created = idp_json(app, "clients", "create", "--name", "Agency", "--redirect-uri", REDIRECT)
    update = idp(app, "clients", "update", created["client_id"], "--backchannel-logout-uri", uri)
    assert update.exit_code != 0 and "backchannel_logout_uri" in update.output


def test_cli_refuses_an_internal_jwks_uri(app):
    result = idp(app, "clients", "create", "--name", "Agency", "--grant-type", "client_credentials",
                 "--scope", "openid", "--auth-method", "private_key_jwt",
                 "--jwks-uri", "https://192.168.1.10/jwks")
    assert result.exit_code != 0 and "jwks_uri" in result.output and "non-public" in result.output


def test_dynamic_registration_refuses_internal_uris(environ):
    app = _app(environ, IDP_DYNAMIC_REGISTRATION="true")
    token = idp_json(app, "clients", "registration-token", "create", "--label", "onboarding")[
        "initial_access_token"]
    browser = app.test_client()
    for field, uri in [("backchannel_logout_uri", "https://169.254.169.254/latest/meta-data/"),
                       ("jwks_uri", "https://192.168.1.10/jwks")]:
        metadata = {"client_name": "Agency", "redirect_uris": [REDIRECT], field: uri}
        if field == "jwks_uri":
            metadata["token_endpoint_auth_method"] = "private_key_jwt"
        response = browser.post("/connect/register", json=metadata,
                                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] == "invalid_client_metadata"


def test_the_operator_allow_list_lets_a_listed_network_through(environ):
    app = _app(environ, IDP_OUTBOUND_ALLOW_NETWORKS="10.0.0.0/8")
    assert idp(app, "clients", "create", "--name", "Agency", "--redirect-uri", REDIRECT,
               "--backchannel-logout-uri", "https://10.0.0.5/logout").exit_code == 0
    refused = idp(app, "clients", "create", "--name", "Agency", "--redirect-uri", REDIRECT,
                  "--backchannel-logout-uri", "https://192.168.1.10/logout")
    assert refused.exit_code != 0


def test_a_name_resolving_to_loopback_is_refused_at_fetch_time(environ):
    """Registered while loopback was allowed; the operator then removes it: the name
    ``localhost`` is resolved at the request and refused, the key server is never called."""
    server = _KeyServer()
    try:
        key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        server.publish(key)
        url = server.url.replace("127.0.0.1", "localhost")
        allowed = _app(environ, IDP_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8 ::1/128")
        client_id = idp_json(allowed, "clients", "create", "--name", "Agency", "--grant-type",
                             "client_credentials", "--scope", "openid", "--auth-method",
                             "private_key_jwt", "--jwks-uri", url)["client_id"]
        assert _token(allowed.test_client(), client_id, key).status_code == 200  # pinned, by name
        assert server.hits == 1

        from idp.oidc.clients import authentication as client_auth

        client_auth.jwks_uri_cache.clear()
        refused = _app(environ)
        response = _token(refused.test_client(), client_id, key)
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_client")
        assert server.hits == 1
        with refused.app_context(), pytest.raises(outbound.OutboundRefused):
            outbound.request("POST", url, form={"logout_token": "x"}, timeout=2, max_bytes=1024)
        assert server.hits == 1
    finally:
        server.httpd.shutdown()


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.0.1", False), ("100.64.0.1", False), ("169.254.169.254", False), ("127.0.0.2", False),
    ("0.0.0.0", False),  # noqa: S104 - an address to classify, not one to bind
    ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("2002:0a00:0001::", False), ("64:ff9b::a00:1", False),
    ("239.1.1.1", False), ("ff02::1", False)])
def test_non_public_ranges(address, public):
    import ipaddress

    assert outbound.is_public(ipaddress.ip_address(address)) is public


def test_a_backchannel_logout_to_a_name_resolving_to_loopback_is_not_sent_when_not_allowed(environ):
    """OIDC Back-Channel Logout §2.5 delivery goes through idp.outbound too: the receiver,
    registered by name while loopback was allowed, gets nothing once it no longer is."""
    from sqlalchemy import select

    from idp.oidc.logout import backchannel as backchannel_logout
    from idp.oidc.models import LogoutDelivery
    from tests.logout_support import Receiver
    from tests.oidc_support import make_citizen, register, sign_in, tokens_for

    receiver = Receiver().start()
    try:
        allowed = _app(environ, IDP_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8 ::1/128")
        portal = register(allowed, client_id="portal",
                          backchannel_logout_uri=receiver.url.replace("127.0.0.1", "localhost"))
        browser = allowed.test_client()
        sign_in(allowed, browser, make_citizen(allowed))
        id_token = tokens_for(browser, *portal)["id_token"]
        assert browser.get("/logout", query_string={"id_token_hint": id_token}).status_code == 200

        refused = _app(environ)
        with refused.app_context():
            backchannel_logout.run_once()
            (delivery,) = db.session.scalars(select(LogoutDelivery)).all()
            assert delivery.status != "delivered" and "non-public" in delivery.last_error
        assert receiver.received == []
    finally:
        receiver.stop()


def test_https_is_pinned_to_the_vetted_address_and_verified_for_the_url_host(environ, tmp_path, monkeypatch):
    """The TCP connection goes to the checked address; TLS still sends the URL's host as SNI
    and verifies the certificate for it (a certificate for another name is refused)."""
    import datetime
    import ipaddress
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def certificate(name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["host"] = self.headers["Host"]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    def serve(name: str):
        cert_file, key_file = certificate(name)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert_file, key_file)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
        Thread(target=httpd.serve_forever, daemon=True).start()
        client_context = ssl.create_default_context(cafile=str(cert_file))
        return httpd, client_context

    app = _app(environ, IDP_OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8 ::1/128")
    good, trusting = serve("rp.example.test")
    monkeypatch.setattr(outbound, "tls_context", lambda: trusting)
    # The name resolves once, in idp.outbound, to the receiver's address; nothing else can
    # resolve it (.test is reserved, RFC 6761), so the request only succeeds if the connection
    # goes to the address that was checked.
    real_resolve = outbound.resolve
    monkeypatch.setattr(outbound, "resolve", lambda host, port: (
        [ipaddress.ip_address("127.0.0.1")] if host == "rp.example.test" else real_resolve(host, port)))
    try:
        with app.app_context():
            url = f"https://rp.example.test:{good.server_port}/sector.json"
            assert outbound.request("GET", url, timeout=3, max_bytes=100).body == b"[]"
            assert seen["host"] == f"rp.example.test:{good.server_port}"
            # The same server reached by address: its certificate does not name 127.0.0.1.
            with pytest.raises(outbound.OutboundError):
                outbound.request("GET", f"https://127.0.0.1:{good.server_port}/", timeout=3, max_bytes=100)
    finally:
        good.shutdown()
