"""Pairwise sectors (OpenID Connect Core 1.0 §8.1, Registration 1.0 §2 and §5): a registrant
cannot choose another agency's sector, a ``sector_identifier_uri`` must list every redirect
URI, redirect URIs on several hosts need one; a registrant gets no ``national_id`` scope nor
public subjects by itself, and its RFC 7592 self-update never widens scope, subject type or
sector (an administrator can, with ``idp clients update``)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp.db import db
from idp.oidc.clients.registry import find_client
from idp.oidc.subject import subject_for
from tests.admin_support import idp, idp_json
from tests.oidc_support import make_citizen
from tests.schema import create_tables
from tests.test_oidc_dynamic_registration import _bearer, _iat

TAX = "https://tax.example.gov.vn/callback"
MINE = "https://portal.example.org/callback"
MINE_TOO = "https://app.example.org/callback"


class _SectorServer:
    """An agency's web server publishing its sector_identifier_uri document (on loopback,
    allowed by the tests' IDP_OUTBOUND_ALLOW_NETWORKS)."""

    def __init__(self, listed: list[str]):
        self.listed = listed
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(owner.listed).encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/sector.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def dcr_app(environ):
    """Dynamic registration on (as in tests/test_oidc_dynamic_registration.py)."""
    from idp import create_app

    application = create_app({**environ, "IDP_DYNAMIC_REGISTRATION": "true"})
    application.config["TESTING"] = True
    with application.app_context():
        create_tables()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sector_server():
    server = _SectorServer([TAX])
    yield server
    server.httpd.shutdown()


def _register(app, **metadata):
    body = {"client_name": "Cổng dịch vụ", "redirect_uris": [MINE], "scope": "openid profile",
            **metadata}
    return app.test_client().post("/connect/register", json=body, headers=_bearer(_iat(app)))


def _refused(response, words: str):
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata" and words in body["error_description"], body


def _sub(app, citizen_id: int, client_id: str) -> str:
    from idp.citizens.models import Citizen

    with app.app_context():
        return subject_for(db.session.get(Citizen, citizen_id), find_client(client_id))


def test_a_registrant_naming_another_agencys_sector_is_refused_and_gets_its_own_sub(dcr_app, sector_server):
    citizen = make_citizen(dcr_app)
    tax = idp_json(dcr_app, "clients", "create", "--name", "Tax", "--redirect-uri", TAX)["client_id"]
    # The reproduced attack: a host name as sector_identifier gave the tax office's sub.
    _refused(_register(dcr_app, sector_identifier="tax.example.gov.vn"), "sector_identifier_uri")
    # Naming the tax office's sector document does not help: it does not list the registrant.
    sector_server.listed = [TAX]
    _refused(_register(dcr_app, sector_identifier_uri=sector_server.url), "does not list")
    mine = _register(dcr_app)
    assert mine.status_code == 201, mine.get_json()
    assert _sub(dcr_app, citizen, mine.get_json()["client_id"]) != _sub(dcr_app, citizen, tax)


def test_a_sector_identifier_uri_listing_every_redirect_uri_gives_its_host_as_sector(dcr_app,
                                                                                    sector_server):
    citizen = make_citizen(dcr_app)
    sector_server.listed = [MINE]
    _refused(_register(dcr_app, redirect_uris=[MINE, MINE_TOO], sector_identifier_uri=sector_server.url),
             MINE_TOO)
    sector_server.listed = [MINE, MINE_TOO]
    first = _register(dcr_app, redirect_uris=[MINE, MINE_TOO], sector_identifier_uri=sector_server.url)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["sector_identifier_uri"] == sector_server.url
    second = _register(dcr_app, redirect_uris=[MINE_TOO], sector_identifier_uri=sector_server.url)
    assert second.status_code == 201, second.get_json()
    with dcr_app.app_context():
        assert find_client(first.get_json()["client_id"]).sector_identifier == "127.0.0.1"
    # One sector, one sub: the two systems of the agency see the same citizen.
    assert _sub(dcr_app, citizen, first.get_json()["client_id"]) == \
        _sub(dcr_app, citizen, second.get_json()["client_id"])


def test_redirect_uris_on_several_hosts_need_a_sector_identifier_uri(dcr_app):
    _refused(_register(dcr_app, redirect_uris=[MINE, MINE_TOO]), "several hosts")
    cli = idp(dcr_app, "clients", "create", "--name", "Agency", "--redirect-uri", MINE,
              "--redirect-uri", MINE_TOO)
    assert cli.exit_code != 0 and "several hosts" in cli.output
    # The administrator may name the sector of one agency's systems.
    assert idp(dcr_app, "clients", "create", "--name", "Agency", "--redirect-uri", MINE,
               "--redirect-uri", MINE_TOO, "--sector-identifier", "example.org").exit_code == 0
    # A public client has no sector.
    assert idp(dcr_app, "clients", "create", "--name", "Agency", "--redirect-uri", MINE,
               "--redirect-uri", MINE_TOO, "--subject-type", "public").exit_code == 0


def test_a_sector_identifier_uri_that_cannot_be_read_is_refused(dcr_app, sector_server):
    sector_server.httpd.shutdown()
    sector_server.httpd.server_close()
    _refused(_register(dcr_app, sector_identifier_uri=sector_server.url), "could not be read")
    cli = idp(dcr_app, "clients", "create", "--name", "Agency", "--redirect-uri", MINE,
              "--sector-identifier-uri", "https://10.0.0.5/sector.json")
    assert cli.exit_code != 0 and "non-public" in cli.output


def test_a_registrant_gets_neither_national_id_nor_public_subjects(dcr_app):
    _refused(_register(dcr_app, scope="openid profile national_id"), "national_id")
    _refused(_register(dcr_app, subject_type="public"), "public")
    assert idp_json(dcr_app, "clients", "list") == []


def test_an_initial_access_token_can_allow_national_id_and_public_subjects(dcr_app):
    token = idp_json(dcr_app, "clients", "registration-token", "create", "--label", "portal onboarding",
                     "--allow-scope", "national_id", "--allow-public-subject")
    assert (token["allowed_scope"], token["allow_public_subject"]) == ("national_id", True)
    response = dcr_app.test_client().post("/connect/register", headers=_bearer(token["initial_access_token"]),
                                          json={"client_name": "Cổng", "redirect_uris": [MINE],
                                                "scope": "openid national_id", "subject_type": "public"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["scope"], body["subject_type"]) == ("openid national_id", "public")
    refused = idp(dcr_app, "clients", "registration-token", "create", "--label", "x",
                  "--allow-scope", "email")
    assert refused.exit_code != 0 and "national_id" in refused.output


def test_a_self_update_never_widens_scope_subject_type_or_sector(dcr_app):
    created = _register(dcr_app).get_json()
    client_id, rat = created["client_id"], created["registration_access_token"]
    browser = dcr_app.test_client()
    base = {"client_id": client_id, "client_name": "Cổng dịch vụ", "redirect_uris": [MINE]}

    def put(**changes):
        return browser.put(f"/connect/register/{client_id}", json={**base, **changes}, headers=_bearer(rat))

    _refused(put(scope="openid profile national_id"), "national_id")
    _refused(put(scope="openid profile email"), "email")
    _refused(put(subject_type="public"), "public")
    _refused(put(redirect_uris=[TAX]), "sector")
    _refused(put(sector_identifier="tax.example.gov.vn"), "sector_identifier_uri")
    shown = browser.get(f"/connect/register/{client_id}", headers=_bearer(rat)).get_json()
    assert (shown["scope"], shown["subject_type"], shown["redirect_uris"]) == \
        ("openid profile", "pairwise", [MINE])
    # What the client read can be sent back unchanged (RFC 7592 §2.2).
    echoed = {k: v for k, v in shown.items() if k not in ("registration_access_token",
                                                          "registration_client_uri",
                                                          "client_secret_expires_at",
                                                          "client_id_issued_at")}
    assert put(**echoed).status_code == 200
    # Narrowing is fine; an omitted scope keeps the current one (not the server default).
    assert put(scope="openid").get_json()["scope"] == "openid"
    assert put().get_json()["scope"] == "openid"
    # The administrator can widen.
    widened = idp(dcr_app, "clients", "update", client_id, "--scope", "openid profile national_id")
    assert widened.exit_code == 0, widened.output


def test_existing_pairwise_clients_keep_their_sector_and_sub_across_the_migration(environ):
    """Before the sector was stored, a pairwise client's sector was the host of its FIRST
    redirect URI; the migration stores that value, so sub values stay, also after an update
    that reorders or replaces the redirect URIs."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from idp import create_app
    from idp.oidc.subject import sector_of

    app = create_app(environ)
    with app.app_context():
        upgrade(revision="0001")
        db.session.execute(sa.text(
            "INSERT INTO clients (client_id, name, token_endpoint_auth_method, redirect_uris, "
            "post_logout_redirect_uris, grant_types, response_types, scope, subject_type, "
            "backchannel_logout_session_required, frontchannel_logout_session_required, "
            "default_acr_values, contacts, enabled, created_at, updated_at) VALUES ('old', 'Old', "
            "'client_secret_basic', :uris, '[]', '[\"authorization_code\"]', '[\"code\"]', 'openid', "
            "'pairwise', false, false, '[]', '[]', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            {"uris": json.dumps([MINE, TAX])})
        db.session.commit()
        upgrade()
        client = find_client("old")
        assert client.sector_identifier == "portal.example.org" == sector_of(client)
    assert idp(app, "clients", "update", "old", "--redirect-uri", TAX, "--redirect-uri", MINE).exit_code == 0
    with app.app_context():
        assert sector_of(find_client("old")) == "portal.example.org"
        db.session.remove()
        db.engine.dispose()
