"""Two protocol gaps closed with the admin work:

- ``private_key_jwt`` with keys published at the client's ``jwks_uri`` (OIDC Registration §2,
  RFC 7523 §2.2): fetched with a short timeout, cached (bounded), refetched when a new ``kid``
  appears, refused cleanly (``invalid_client``) when the URI fails;
- an unknown ``token_type_hint`` at /revoke and /introspect is ignored (RFC 7009 §2.1 and
  RFC 7662 §2.1: the server "MAY ignore this parameter"), never a 401.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.oidc.clients import authentication as client_auth
from tests.admin_support import idp_json
from tests.oidc_support import ISSUER, basic, sign_in, tokens_for

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class _KeyServer:
    """A relying party's web server publishing its JWK Set."""

    def __init__(self):
        self.body = b"{}"
        self.status = 200
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's name
                owner.hits += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, *keys: ECKey) -> None:
        self.body = json.dumps({"keys": [k.as_dict(private=False) for k in keys]}).encode()


@pytest.fixture
def key_server():
    server = _KeyServer()
    client_auth.jwks_uri_cache.clear()
    yield server
    server.httpd.shutdown()
    client_auth.jwks_uri_cache.clear()


def _token(browser, client_id: str, key: ECKey):
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid},
                           {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token",
                            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}, key)
    return browser.post("/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                        "client_assertion_type": ASSERTION_TYPE,
                                        "client_assertion": assertion})


def _jwks_uri_client(app, url: str) -> str:
    return idp_json(app, "clients", "create", "--name", "Agency", "--grant-type", "client_credentials",
                    "--scope", "openid", "--auth-method", "private_key_jwt", "--jwks-uri", url)["client_id"]


def test_private_key_jwt_reads_the_jwks_uri_and_caches_it(app, browser, key_server):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    key_server.publish(key)
    client_id = _jwks_uri_client(app, key_server.url)
    assert _token(browser, client_id, key).status_code == 200
    assert _token(browser, client_id, key).status_code == 200
    assert key_server.hits == 1  # the second request used the cache


def test_a_rotated_client_key_is_fetched_when_its_kid_appears(app, browser, key_server, monkeypatch):
    monkeypatch.setattr(client_auth, "JWKS_REFETCH_SECONDS", 0)
    old = ECKey.generate_key("P-256", parameters={"kid": "2025"})
    new = ECKey.generate_key("P-256", parameters={"kid": "2026"})
    key_server.publish(old)
    client_id = _jwks_uri_client(app, key_server.url)
    assert _token(browser, client_id, old).status_code == 200
    key_server.publish(old, new)
    assert _token(browser, client_id, new).status_code == 200
    assert key_server.hits == 2


@pytest.mark.parametrize("status,body", [(500, b"oops"), (200, b"not json"),
                                          (200, b'{"keys": []}'), (200, b"x" * (70 * 1024))])
def test_a_failing_jwks_uri_is_a_clean_invalid_client(app, browser, key_server, status, body):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    key_server.publish(key)
    client_id = _jwks_uri_client(app, key_server.url)
    key_server.status, key_server.body = status, body
    response = _token(browser, client_id, key)
    # RFC 6749 §5.2: 401 is for credentials sent in the Authorization header; these were not.
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client"


def test_an_unreachable_jwks_uri_is_a_clean_invalid_client(app, browser, key_server):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    client_id = _jwks_uri_client(app, key_server.url)
    key_server.httpd.shutdown()
    key_server.httpd.server_close()
    response = _token(browser, client_id, key)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("endpoint", ["/introspect", "/revoke"])
def test_an_unknown_token_type_hint_is_ignored_not_a_401(app, browser, rp, citizen_id, endpoint):
    sign_in(app, browser, citizen_id)
    tokens = tokens_for(browser, *rp)
    response = browser.post(endpoint, data={"token": tokens["access_token"],
                                            "token_type_hint": "id_token"}, headers=basic(*rp))
    assert response.status_code == 200, response.get_json()
    if endpoint == "/introspect":
        assert response.get_json()["active"] is True
    else:  # really revoked, found without the help of the hint
        assert browser.post("/introspect", data={"token": tokens["access_token"]},
                            headers=basic(*rp)).get_json() == {"active": False}


@pytest.mark.parametrize("endpoint", ["/introspect", "/revoke"])
def test_a_missing_token_is_invalid_request(browser, rp, endpoint):
    response = browser.post(endpoint, data={"token_type_hint": "access_token"}, headers=basic(*rp))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
