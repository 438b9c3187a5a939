"""``idp clients`` as an administrator runs it, each registered client then used by a relying
party in a real token request (RFC 6749 §4.1, §4.4; RFC 7636; RFC 7523 §2.2), rotation with a
grace period, disable taking effect on every node, and redirect URIs refused as OIDC
Registration §2 and RFC 9700 §2.1 require."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from idp import create_app
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import Client
from tests.admin_support import ADMIN, admin_events, idp, idp_json
from tests.helpers import run_idp
from tests.oidc_support import (
    ISSUER,
    REDIRECT,
    basic,
    code_for,
    exchange,
    make_citizen,
    pkce_pair,
    sign_in,
    until_heard,
)
from tests.schema import create_tables


def _create(app, *args: str) -> dict:
    return idp_json(app, "clients", "create", "--name", "Cổng dịch vụ công", *args)


@pytest.fixture
def citizen(app, browser):
    citizen_id = make_citizen(app)
    sign_in(app, browser, citizen_id)
    return citizen_id


@pytest.mark.parametrize("method,auth", [("client_secret_basic", "basic"), ("client_secret_post", "post")])
def test_created_secret_client_redeems_a_code_with_its_method(app, browser, citizen, method, auth):
    created = _create(app, "--redirect-uri", REDIRECT, "--scope", "openid profile", "--auth-method", method)
    client_id, secret = created["client_id"], created["client_secret"]
    assert created["token_endpoint_auth_method"] == method and len(secret) >= 43
    with app.app_context():  # only the digest is stored
        row = db.session.query(Client).filter_by(client_id=client_id).one()
        assert all(secret not in s.digest for s in row.secrets)
    code = code_for(browser, client_id, scope="openid profile")["code"]
    response = exchange(browser, client_id, secret, code, auth=auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "Bearer"
    assert "id_token" in response.get_json()


def test_created_public_client_uses_pkce_without_a_secret(app, browser, citizen):
    created = _create(app, "--redirect-uri", REDIRECT, "--auth-method", "none")
    assert created["client_secret"] is None
    verifier, challenge = pkce_pair()
    code = code_for(browser, created["client_id"], code_challenge=challenge,
                    code_challenge_method="S256")["code"]
    response = exchange(browser, created["client_id"], None, code, verifier=verifier, auth="none")
    assert response.status_code == 200, response.get_json()


def test_client_credentials_only_client_needs_no_redirect_uri(app, browser):
    created = _create(app, "--grant-type", "client_credentials", "--scope", "openid")
    assert created["redirect_uris"] == [] and created["response_types"] == []
    response = browser.post("/token", data={"grant_type": "client_credentials"},
                            headers=basic(created["client_id"], created["client_secret"]))
    assert response.status_code == 200, response.get_json()
    # It cannot start an authorization code flow.
    response = browser.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                            "redirect_uri": REDIRECT},
                            headers=basic(created["client_id"], created["client_secret"]))
    assert response.get_json()["error"] == "unauthorized_client"


def _assertion(key: ECKey, client_id: str, kid: str) -> str:
    now = int(time.time())
    return jwt.encode({"alg": "ES256", "kid": kid},
                      {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token",
                       "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}, key)


def test_private_key_jwt_client_from_a_jwks_file_gets_a_token(app, browser, tmp_path):
    key = ECKey.generate_key("P-256", parameters={"kid": "agency-2026"})
    jwks_file = tmp_path / "agency.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    created = _create(app, "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
                      "--jwks-file", str(jwks_file), "--scope", "openid")
    assert created["client_secret"] is None and created["jwks"]["keys"][0]["kid"] == "agency-2026"
    response = browser.post("/token", data={
        "grant_type": "client_credentials", "client_id": created["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(key, created["client_id"], "agency-2026")})
    assert response.status_code == 200, response.get_json()


def test_a_private_jwks_file_is_refused(app, tmp_path):
    key = ECKey.generate_key("P-256")
    jwks_file = tmp_path / "leaked.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    result = idp(app, "clients", "create", "--name", "x", "--grant-type", "client_credentials",
                 "--auth-method", "private_key_jwt", "--jwks-file", str(jwks_file))
    assert result.exit_code == 1
    assert "only public keys" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("uri,why", [
    ("http://rp.example.gov.vn/cb", "must be https"),
    ("https://rp.example.gov.vn/cb#frag", "fragment"),
    ("https://*.example.gov.vn/cb", "wildcards"),
    ("https://rp.example.gov.vn/*", "wildcards"),
    ("/relative/cb", "must be https"),
    ("javascript:alert(1)", "must be https"),
])
def test_bad_redirect_uris_are_refused_with_one_line_and_nothing_created(app, uri, why):
    result = idp(app, "clients", "create", "--name", "x", "--redirect-uri", uri)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("idp: ") and why in result.stderr and result.stderr.count("\n") == 1
    assert idp_json(app, "clients", "list") == []


def test_loopback_http_redirect_uri_is_allowed_for_development(app):
    created = _create(app, "--redirect-uri", "http://127.0.0.1:5000/cb")
    assert created["redirect_uris"] == ["http://127.0.0.1:5000/cb"]


def test_rotate_secret_keeps_the_old_secret_for_the_grace_period_only(app, browser, monkeypatch):
    created = _create(app, "--grant-type", "client_credentials", "--scope", "openid")
    client_id, old = created["client_id"], created["client_secret"]
    rotated = idp_json(app, "clients", "rotate-secret", client_id, "--grace", "600")
    new = rotated["client_secret"]
    assert rotated["client_id"] == client_id and new != old
    token = {"grant_type": "client_credentials"}
    assert browser.post("/token", data=token, headers=basic(client_id, old)).status_code == 200
    assert browser.post("/token", data=token, headers=basic(client_id, new)).status_code == 200
    # Ten minutes and one second later, only the new secret works.
    later = utcnow() + timedelta(seconds=601)
    monkeypatch.setattr("idp.oidc.clients.secrets.utcnow", lambda: later)
    response = browser.post("/token", data=token, headers=basic(client_id, old))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert browser.post("/token", data=token, headers=basic(client_id, new)).status_code == 200


def test_disable_kills_existing_tokens_at_once_on_every_node(app, environ, browser, citizen):
    created = _create(app, "--redirect-uri", REDIRECT, "--scope", "openid profile")
    client_id, secret = created["client_id"], created["client_secret"]
    code = code_for(browser, client_id, scope="openid profile")["code"]
    tokens = exchange(browser, client_id, secret, code).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    # A second node: its own app and process state, the same database.
    other_node = create_app(environ).test_client()
    for node in (browser, other_node):
        assert node.get("/userinfo", headers=bearer).status_code == 200
    introspected = browser.post("/introspect", data={"token": tokens["access_token"]},
                                headers=basic(client_id, secret)).get_json()
    assert introspected["active"] is True

    assert idp_json(app, "clients", "disable", client_id) == {"client_id": client_id, "enabled": False}

    for node in (browser, other_node):
        # On PostgreSQL each node hears of it through NOTIFY: its next request, or within the
        # notification's delivery when that request comes first (README's cache table).
        until_heard(app, lambda node=node: node.get("/userinfo", headers=bearer).status_code == 200,
                    "the disabled client's token was still served")
        response = node.get("/userinfo", headers=bearer)
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
        refresh = node.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            headers=basic(client_id, secret))
        assert refresh.status_code == 401 and refresh.get_json()["error"] == "invalid_client"
    # What introspection and revocation look tokens up with (RFC 7662 §2.2: inactive) finds
    # neither of the disabled client's tokens; its own introspection call is refused outright.
    response = browser.post("/introspect", data={"token": tokens["access_token"]},
                            headers=basic(client_id, secret))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    from idp.oidc.tokens.presented import find_token
    with app.test_request_context():
        assert find_token(tokens["access_token"], None) is None
        assert find_token(tokens["refresh_token"], None) is None
    # Enabling again is an explicit, audited decision.
    idp_json(app, "clients", "enable", client_id)
    assert browser.get("/userinfo", headers=bearer).status_code == 200
    actions = [(e.action, e.actor, e.client_id) for e in admin_events(app, "client.")]
    assert ("client.disabled", ADMIN, client_id) in actions
    assert ("client.enabled", ADMIN, client_id) in actions


def test_show_list_update_and_delete_print_json_carrying_the_ids(app):
    created = _create(app, "--client-id", "tax-portal", "--redirect-uri", REDIRECT,
                      "--backchannel-logout-uri", "https://rp.example.gov.vn/bcl",
                      "--default-acr", "urn:idp:acr:basic", "--contacts", "ops@thue.gov.vn",
                      "--subject-type", "pairwise", "--sector-identifier", "thue.gov.vn",
                      "--logo-uri", "https://rp.example.gov.vn/logo.png")
    assert created["client_id"] == "tax-portal"
    shown = idp_json(app, "clients", "show", "tax-portal")
    assert "client_secret" not in shown and shown["live_secrets"] == 1
    assert shown["backchannel_logout_uri"] == "https://rp.example.gov.vn/bcl"
    assert shown["default_acr_values"] == ["urn:idp:acr:basic"]
    assert shown["sector_identifier"] == "thue.gov.vn"
    assert [c["client_id"] for c in idp_json(app, "clients", "list")] == ["tax-portal"]

    updated = idp_json(app, "clients", "update", "tax-portal", "--redirect-uri", REDIRECT,
                       "--redirect-uri", "https://rp.example.gov.vn/cb2", "--scope", "openid email")
    assert updated["client_id"] == "tax-portal"
    assert sorted(updated["changed"]) == ["redirect_uris", "scope"]
    assert updated["redirect_uris"] == [REDIRECT, "https://rp.example.gov.vn/cb2"]
    bad = idp(app, "clients", "update", "tax-portal", "--redirect-uri", "https://x.example/cb#f")
    assert bad.exit_code == 1 and "fragment" in bad.stderr
    assert idp_json(app, "clients", "show", "tax-portal")["scope"] == "openid email"

    refused = idp(app, "clients", "delete", "tax-portal", input="n\n")
    assert refused.exit_code == 1
    assert idp_json(app, "clients", "delete", "tax-portal", "--yes") == {"client_id": "tax-portal",
                                                                          "deleted": True}
    missing = idp(app, "clients", "show", "tax-portal")
    assert missing.exit_code == 1 and missing.stderr == "idp: no client with id 'tax-portal'\n"


def test_every_change_is_audited_with_the_admins_os_user(app):
    created = _create(app, "--redirect-uri", REDIRECT)
    client_id = created["client_id"]
    idp_json(app, "clients", "update", client_id, "--name", "Cổng mới")
    idp_json(app, "clients", "rotate-secret", client_id)
    idp_json(app, "clients", "disable", client_id)
    idp_json(app, "clients", "delete", client_id, "--yes")
    events = admin_events(app, "client.")
    assert [e.action for e in events] == ["client.created", "client.updated", "client.secret_rotated",
                                          "client.disabled", "client.deleted"]
    assert {e.actor for e in events} == {ADMIN} and {e.client_id for e in events} == {client_id}
    assert all(created["client_secret"] not in json.dumps(e.details) for e in events)


def test_the_installed_console_script_creates_a_client_a_relying_party_then_uses(app, environ, browser):
    """The real ``.venv/bin/idp`` in its own process, on the test's database."""
    done = run_idp(["clients", "create", "--name", "Hệ thống hộ tịch", "--grant-type", "client_credentials",
                    "--scope", "openid", "--json"], environ)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    response = browser.post("/token", data={"grant_type": "client_credentials"},
                            headers=basic(created["client_id"], created["client_secret"]))
    assert response.status_code == 200
    bad = run_idp(["clients", "create", "--name", "x", "--redirect-uri", "http://evil.example/cb"], environ)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("idp: redirect URI") and bad.stderr.count("\n") == 1


def test_every_clients_command_has_an_example_in_its_help(app):
    for command in ("create", "list", "show", "update", "rotate-secret", "disable", "enable", "delete"):
        result = idp(app, "clients", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command


def test_a_deleted_client_id_registered_again_inherits_nothing(app, browser, citizen):
    created = _create(app, "--client-id", "reused", "--redirect-uri", REDIRECT, "--scope", "openid")
    code = code_for(browser, "reused", scope="openid")["code"]
    tokens = exchange(browser, "reused", created["client_secret"], code).get_json()
    idp_json(app, "clients", "delete", "reused", "--yes")
    again = _create(app, "--client-id", "reused", "--redirect-uri", REDIRECT, "--scope", "openid")
    with app.app_context():  # registered again two minutes later
        row = db.session.query(Client).filter_by(client_id="reused").one()
        row.created_at = utcnow() + timedelta(seconds=120)
        db.session.commit()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert browser.get("/userinfo", headers=bearer).status_code == 401
    refresh = browser.post("/token", data={"grant_type": "refresh_token",
                                           "refresh_token": tokens["refresh_token"]},
                           headers=basic("reused", again["client_secret"]))
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"


def test_a_production_server_fetches_no_loopback_uri(environ):
    """jwks_uri and backchannel_logout_uri are fetched by the server itself: on an https
    issuer they must be https, so a registration cannot aim the server at its own host."""
    production = create_app({**environ, "IDP_ISSUER": "https://id.example.gov.vn"})
    with production.app_context():
        create_tables()
    for option in ("--jwks-uri", "--backchannel-logout-uri"):
        args = ["--grant-type", "client_credentials", "--scope", "openid", option,
                "http://127.0.0.1:6379/x"]
        if option == "--jwks-uri":
            args += ["--auth-method", "private_key_jwt"]
        result = idp(production, "clients", "create", "--name", "x", *args)
        assert result.exit_code == 1 and "must be an https URI" in result.stderr, result.stderr
    with production.app_context():
        db.session.remove()
        db.engine.dispose()


def test_generated_client_ids_never_start_with_a_dash(monkeypatch):
    """A generated id is typed after `idp clients show`, where `-9...` would read as an option."""
    from idp.oidc.clients import registry as clients

    draws = iter(["-9dashfirst", "_ok-after-a-retry"])
    monkeypatch.setattr(clients.secrets, "token_urlsafe", lambda n: next(draws))
    assert clients.new_client_id() == "_ok-after-a-retry"
