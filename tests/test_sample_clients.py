"""The sample clients ``./scripts/run`` registers (:mod:`idp.oidc.clients.demo`): demo-agency is
a FAPI 2.0 client (private_key_jwt with the agency app's ``/jwks.json``, PAR, DPoP, no secret),
its call-centre page a CIBA client of its own in the same pairwise sector; registering again
keeps them, and an older secret-based demo-agency is converted."""

from __future__ import annotations

import json

import pytest

from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.clients.demo import register_sample_clients
from idp.oidc.clients.registry import create_client, describe, find_client
from idp.oidc.subject import subject_for
from tests.app_support import App
from tests.factories import AN
from tests.oidc_support import basic, jwks_of, verify
from tests.test_oidc_ciba import CIBA, bc_authorize, phone, poll  # noqa: F401 - phone: a fixture

PORTAL, AGENCY = "http://127.0.0.1:8101", "http://127.0.0.1:8102"
CALLCENTRE = "demo-agency-callcentre"


@pytest.fixture
def samples(app, tmp_path):
    """Registers the samples; returns the secrets file's path and the first answer."""
    secrets_file = tmp_path / "instance" / "sample-clients.json"
    with app.app_context():
        first = register_sample_clients({"portal": PORTAL, "agency": AGENCY}, secrets_file)
    return secrets_file, first


def test_registering_twice_keeps_the_clients_and_their_secrets(app, samples):
    secrets_file, first = samples
    assert set(first) == {"demo-portal", "demo-agency", CALLCENTRE}
    with app.app_context():
        before = {client_id: describe(find_client(client_id)) for client_id in first}
        again = register_sample_clients({"portal": PORTAL, "agency": AGENCY}, secrets_file)
        after = {client_id: describe(find_client(client_id)) for client_id in first}
    assert again == first and json.loads(secrets_file.read_text()) == first
    assert after == before
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_demo_agency_is_a_fapi2_client_without_a_secret(app, samples):
    secrets_file, first = samples
    with app.app_context():
        agency = describe(find_client("demo-agency"))
    assert agency["profile"] == "fapi2"
    assert agency["token_endpoint_auth_method"] == "private_key_jwt"
    assert agency["jwks_uri"] == f"{AGENCY}/jwks.json" and agency["jwks"] is None
    assert agency["require_pushed_authorization_requests"] is True
    assert agency["dpop_bound_access_tokens"] is True
    assert agency["id_token_signed_response_alg"] == "ES256"
    assert agency["grant_types"] == ["authorization_code", "refresh_token"]
    assert agency["redirect_uris"] == [f"{AGENCY}/callback"]
    assert agency["backchannel_logout_uri"] == f"{AGENCY}/backchannel-logout"
    assert agency["frontchannel_logout_uri"] == f"{AGENCY}/frontchannel-logout"
    assert agency["scope"] == "openid profile organization" and agency["subject_type"] == "pairwise"
    assert agency["live_secrets"] == 0
    assert json.loads(secrets_file.read_text())["demo-agency"]["client_secret"] is None
    assert first["demo-portal"]["client_secret"] and first[CALLCENTRE]["client_secret"]


def test_the_call_centre_client_is_ciba_only_in_the_agency_s_sector(app, samples):
    with app.app_context():
        agency, callcentre = find_client("demo-agency"), find_client(CALLCENTRE)
        described = describe(callcentre)
        assert described["grant_types"] == [CIBA] and described["redirect_uris"] == []
        assert described["token_endpoint_auth_method"] == "client_secret_basic"
        assert described["profile"] is None and described["live_secrets"] == 1
        assert callcentre.sector_identifier == agency.sector_identifier == "127.0.0.1"


def test_the_call_centre_starts_a_ciba_request_and_gets_the_agency_s_sub(app, client, samples,
                                                                         phone: App):  # noqa: F811
    _, first = samples
    callcentre = (CALLCENTRE, first[CALLCENTRE]["client_secret"])
    answer = bc_authorize(client, callcentre, scope="openid profile", binding_message="Mã cuộc gọi 1234")
    assert answer.status_code == 200, answer.get_json()
    listed = phone.ciba(client, "/app/ciba/pending", {"action": "list"}).get_json()["requests"]
    request_id = listed[0]["request_id"]
    assert phone.ciba(client, f"/app/ciba/{request_id}",
                      {"action": "approve", "request_id": request_id}).status_code == 200
    tokens = poll(client, callcentre, answer.get_json()["auth_req_id"], app=app)
    assert tokens.status_code == 200, tokens.get_json()
    claims = verify(tokens.get_json()["id_token"], jwks_of(client)).claims
    assert claims["aud"] == CALLCENTRE
    with app.app_context():
        citizen = db.session.query(Citizen).one()
        assert claims["sub"] == subject_for(citizen, find_client("demo-agency"))
    bearer = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    assert client.get("/userinfo", headers=bearer).get_json()["name"] == AN["full_name"]


def test_an_older_secret_based_demo_agency_is_converted_and_its_secret_stops_working(app, client, tmp_path):
    with app.app_context():
        _, old_secret = create_client(
            client_id="demo-agency", name="Hệ thống đăng ký đất đai (demo)",
            scope="openid profile organization",
            redirect_uris=[f"{AGENCY}/callback"], grant_types=["authorization_code", "refresh_token", CIBA])
        db.session.commit()
        sector = find_client("demo-agency").sector_identifier
        register_sample_clients({"agency": AGENCY}, tmp_path / "sample-clients.json")
        agency = describe(find_client("demo-agency"))
    assert agency["profile"] == "fapi2" and agency["token_endpoint_auth_method"] == "private_key_jwt"
    assert agency["grant_types"] == ["authorization_code", "refresh_token"] and agency["live_secrets"] == 0
    assert agency["sector_identifier"] == sector  # the citizens' pairwise sub does not change
    # RFC 6749 §5.2: client_secret_basic is not demo-agency's method any more.
    answer = client.post("/token", headers=basic("demo-agency", old_secret),
                         data={"grant_type": "authorization_code", "code": "x",
                               "redirect_uri": f"{AGENCY}/callback"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
