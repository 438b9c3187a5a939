"""Who may call POST /api/signatures/verify: agencies with an access token carrying the scope
``signature.verify`` from the client credentials grant (RFC 6749 §4.4), sent as a bearer token
(RFC 6750 §2.1). Refusals are JSON with the ``WWW-Authenticate`` challenge of RFC 6750 §3."""

from __future__ import annotations

import io

from sqlalchemy import select

from idp.db import db
from idp.oidc.clients.registry import set_enabled
from idp.oidc.models import Client
from tests.oidc_support import REDIRECT, authorize, basic, register, sign_in
from tests.signatures.conftest import agency_client, client_credentials_token

DOCUMENT = "Đơn đề nghị cấp giấy phép xây dựng\n".encode() * 50
URL = "/api/signatures/verify"


def _post(client, signature: bytes, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(URL, headers=headers, content_type="multipart/form-data",
                       data={"document": (io.BytesIO(DOCUMENT), "d.txt"),
                             "signature": (io.BytesIO(signature), "d.p7s")})


def test_client_credentials_token_with_the_scope_is_accepted(app, client, signer, citizen_keys):
    """The README's curl example, step by step: token with HTTP Basic, then a multipart POST."""
    client_id, secret = agency_client(app)
    response = client.post("/token", headers=basic(client_id, secret),
                           data={"grant_type": "client_credentials", "scope": "signature.verify"})
    assert response.status_code == 200
    token = response.get_json()
    assert token["token_type"].lower() == "bearer" and token["scope"] == "signature.verify"
    verdict = _post(client, signer.sign_cms(DOCUMENT, *citizen_keys["an"]), token["access_token"])
    assert verdict.status_code == 200
    assert verdict.get_json()["valid"] is True


def test_no_token_is_401_with_a_bearer_challenge_rfc6750_3_1(client, signer, citizen_keys):
    response = _post(client, signer.sign_cms(DOCUMENT, *citizen_keys["an"]))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["error"] == "invalid_token"


def test_a_garbage_token_is_401_invalid_token(client, signer, citizen_keys):
    response = _post(client, signer.sign_cms(DOCUMENT, *citizen_keys["an"]), "not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"] == "invalid_token"


def test_a_token_without_the_scope_is_403_insufficient_scope_rfc6750_3_1(app, client, signer,
                                                                          citizen_keys):
    client_id, secret = agency_client(app, client_id="agency-profile-only", scope="profile")
    token = client_credentials_token(client, client_id, secret, scope="profile")
    response = _post(client, signer.sign_cms(DOCUMENT, *citizen_keys["an"]), token)
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and 'error="insufficient_scope"' in challenge


def test_a_client_not_registered_for_the_scope_cannot_obtain_it(app, client):
    client_id, secret = agency_client(app, client_id="agency-profile-only", scope="profile")
    response = client.post("/token", headers=basic(client_id, secret),
                           data={"grant_type": "client_credentials", "scope": "signature.verify"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_the_token_of_a_disabled_client_stops_working(app, client, signer, citizen_keys, agency_token):
    signature = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    assert _post(client, signature, agency_token).status_code == 200
    with app.app_context():
        set_enabled(db.session.scalar(select(Client).where(Client.client_id == "agency-records")), False)
        db.session.commit()
    response = _post(client, signature, agency_token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_citizen_cannot_be_asked_for_the_service_scope(app, client, citizen_id):
    """The scope names an API, not citizen data: the authorization endpoint does not offer it."""
    client_id, _ = register(app, client_id="portal", scope="openid signature.verify")
    sign_in(app, client, citizen_id)
    response = authorize(client, client_id, scope="openid signature.verify")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT)
    assert "error=invalid_scope" in response.headers["Location"]


def test_discovery_lists_the_service_scope(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert "signature.verify" in metadata["scopes_supported"]
