"""Dynamic client registration for the trusted onboarding system: RFC 7591 §3 (initial access
token, registration response), RFC 7592 §2 (read, update, delete with the registration access
token), off by default and advertised only when on (RFC 8414 §2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp import create_app
from idp.db import db
from tests.admin_support import ADMIN, admin_events, idp, idp_json
from tests.oidc_support import REDIRECT, basic, code_for, exchange, make_citizen, sign_in
from tests.schema import create_tables

METADATA = {"client_name": "Hệ thống thuế", "redirect_uris": [REDIRECT], "scope": "openid profile",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"]}


@pytest.fixture
def dcr_app(environ):
    application = create_app({**environ, "IDP_DYNAMIC_REGISTRATION": "true"})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _iat(app, **kw) -> str:
    return idp_json(app, "clients", "registration-token", "create", "--label", "onboarding.gov.vn",
                    *[x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", str(v))]
                    )["initial_access_token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_registration_is_off_by_default_and_not_advertised(app, client):
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").get_json()
    token = _iat(app)
    assert client.post("/connect/register", json=METADATA, headers=_bearer(token)).status_code == 404


def test_registered_client_signs_a_citizen_in_and_is_managed_with_its_token(dcr_app):
    browser = dcr_app.test_client()
    discovery = browser.get("/.well-known/openid-configuration").get_json()
    assert discovery["registration_endpoint"] == "http://127.0.0.1:8000/connect/register"
    created = browser.post("/connect/register", json=METADATA, headers=_bearer(_iat(dcr_app)))
    assert created.status_code == 201, created.get_json()
    assert created.headers["Cache-Control"] == "no-store"
    body = created.get_json()
    client_id, secret, rat = body["client_id"], body["client_secret"], body["registration_access_token"]
    assert body["client_secret_expires_at"] == 0 and body["client_name"] == "Hệ thống thuế"
    assert body["registration_client_uri"] == f"http://127.0.0.1:8000/connect/register/{client_id}"

    citizen_id = make_citizen(dcr_app)
    sign_in(dcr_app, browser, citizen_id)
    code = code_for(browser, client_id, scope="openid profile")["code"]
    assert exchange(browser, client_id, secret, code).status_code == 200

    read = browser.get(f"/connect/register/{client_id}", headers=_bearer(rat))
    assert read.status_code == 200 and read.get_json()["redirect_uris"] == [REDIRECT]
    assert "client_secret" not in read.get_json()
    updated = browser.put(f"/connect/register/{client_id}", headers=_bearer(rat), json={
        **METADATA, "client_id": client_id, "redirect_uris": [REDIRECT, "https://rp.example.gov.vn/cb2"]})
    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["redirect_uris"] == [REDIRECT, "https://rp.example.gov.vn/cb2"]
    # The registration access token is good for this client only; the initial one for none.
    other = browser.post("/connect/register", json=METADATA, headers=_bearer(_iat(dcr_app))).get_json()
    assert browser.get(f"/connect/register/{other['client_id']}", headers=_bearer(rat)).status_code == 401
    assert browser.delete(f"/connect/register/{client_id}", headers=_bearer(rat)).status_code == 204
    assert browser.get(f"/connect/register/{client_id}", headers=_bearer(rat)).status_code == 401
    token = browser.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                         headers=basic(client_id, secret))
    assert token.status_code == 401
    actions = [(e.action, e.actor.split(":")[0]) for e in admin_events(dcr_app)]
    assert ("registration_token.created", ADMIN.split(":")[0]) in actions
    assert ("client.registered", "registration") in actions and ("client.deleted", "registration") in actions


@pytest.mark.parametrize("uri", ["http://rp.example.gov.vn/cb", "https://rp.example.gov.vn/cb#x",
                                 "https://*.example.gov.vn/cb"])
def test_registration_refuses_the_redirect_uris_the_cli_refuses(dcr_app, uri):
    response = dcr_app.test_client().post("/connect/register", json={**METADATA, "redirect_uris": [uri]},
                                          headers=_bearer(_iat(dcr_app)))
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    assert idp_json(dcr_app, "clients", "list") == []


def test_registration_refuses_bad_metadata(dcr_app):
    browser = dcr_app.test_client()
    token = _iat(dcr_app)
    for bad in ({**METADATA, "client_name": ""}, {**METADATA, "grant_types": ["password"]},
                {**METADATA, "token_endpoint_auth_method": "private_key_jwt"},
                {**METADATA, "scope": "openid admin"}):
        response = browser.post("/connect/register", json=bad, headers=_bearer(token))
        assert response.status_code == 400, bad
        assert response.get_json()["error"] == "invalid_client_metadata", response.get_json()


def test_registration_needs_a_live_initial_access_token(dcr_app, monkeypatch):
    browser = dcr_app.test_client()
    assert browser.post("/connect/register", json=METADATA).status_code == 401
    assert browser.post("/connect/register", json=METADATA, headers=_bearer("guess")).status_code == 401
    token = _iat(dcr_app, expires_in=60)
    from idp.db.types import utcnow
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr("idp.oidc.endpoints.registration.utcnow", lambda: later)
    response = browser.post("/connect/register", json=METADATA, headers=_bearer(token))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert idp_json(dcr_app, "clients", "list") == []


def test_registration_token_lifetime_is_bounded(app):
    result = idp(app, "clients", "registration-token", "create", "--label", "x", "--expires-in", "10")
    assert result.exit_code == 2


@pytest.mark.parametrize("body,content_type", [
    (b"[1, 2]", "application/json"), (b"{nope", "application/json"),
    (b"client_name=x", "application/x-www-form-urlencoded")])
def test_a_body_that_is_not_a_json_object_is_invalid_request(dcr_app, body, content_type):
    response = dcr_app.test_client().post("/connect/register", data=body, headers={
        **_bearer(_iat(dcr_app)), "Content-Type": content_type})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_initial_access_tokens_are_listed_and_a_revoked_one_registers_nothing(dcr_app):
    """A leaked initial access token (RFC 7591 §3) is stopped at once by `registration-token
    revoke`; `list` shows each token's state, never its value; a client it registered stays."""
    browser = dcr_app.test_client()
    kept, leaked = _iat(dcr_app), _iat(dcr_app)
    registered = browser.post("/connect/register", json=METADATA, headers=_bearer(leaked))
    assert registered.status_code == 201
    listed = idp_json(dcr_app, "clients", "registration-token", "list")
    assert [row["state"] for row in listed] == ["live", "live"]
    assert all(kept not in str(row) and leaked not in str(row) for row in listed)
    leaked_id = listed[0]["id"]  # newest first

    revoked = idp_json(dcr_app, "clients", "registration-token", "revoke", str(leaked_id))
    assert revoked["state"] == "revoked" and revoked["revoked_at"]
    refused = browser.post("/connect/register", json=METADATA, headers=_bearer(leaked))
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_token"
    assert browser.post("/connect/register", json=METADATA, headers=_bearer(kept)).status_code == 201
    assert [row["state"] for row in idp_json(dcr_app, "clients", "registration-token", "list")] == [
        "revoked", "live"]
    client_id = registered.get_json()["client_id"]
    assert idp_json(dcr_app, "clients", "show", client_id)["enabled"] is True
    assert ("registration_token.revoked", ADMIN) in [(e.action, e.actor) for e in admin_events(dcr_app)]

    again = idp(dcr_app, "clients", "registration-token", "revoke", str(leaked_id))
    assert again.exit_code == 1 and again.stderr.strip().endswith("already revoked")
    unknown = idp(dcr_app, "clients", "registration-token", "revoke", "999")
    assert unknown.exit_code == 1 and "no initial access token with id 999" in unknown.stderr
