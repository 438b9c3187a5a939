"""The sample relying parties' back-channel logout receiver (clients/relying_party.py) checks a
logout token the way Back-Channel Logout 1.0 §2.6 asks, against idp's JWKS fetched over HTTP,
and drops only the matching server-side session. idp is served on a loopback port."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from idp.db import db
from idp.keys import service as keys
from idp.oidc.logout.backchannel import make_logout_token
from idp.oidc.models import Client
from tests.factories import ROOT
from tests.helpers import free_port
from tests.oidc_support import register

sys.path.insert(0, str(ROOT / "clients"))
from relying_party import LocalSession, create_rp_app

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_ISSUER": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture
def idp_url(app, environ):
    """idp answering on its issuer address (discovery and the JWKS, for the relying party)."""
    port = int(environ["IDP_ISSUER"].rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield environ["IDP_ISSUER"]
    server.shutdown()


@pytest.fixture
def rp(app, idp_url):
    client_id, secret = register(app, client_id="demo-portal", backchannel_logout_uri="http://127.0.0.1:1/bcl")
    rp_app = create_rp_app(title="Portal", tagline="", scope="openid", environ={
        "RP_ISSUER": idp_url, "RP_CLIENT_ID": client_id, "RP_CLIENT_SECRET": secret,
        "RP_BASE_URL": "http://127.0.0.1:1"})
    store = rp_app.extensions["rp.sessions"]
    mine = store.create(LocalSession(sub="sub-1", sid="sid-1", id_token="t", claims={}, userinfo={}))
    other = store.create(LocalSession(sub="sub-2", sid="sid-2", id_token="t", claims={}, userinfo={}))
    return rp_app, store, mine, other


def _signed(app, claims: dict, header: dict | None = None) -> str:
    with app.app_context():
        key = keys.signing_key("RS256")
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt", **(header or {})}, claims, KeySet([key]),
                      algorithms=["RS256"])


def _claims(idp_url: str, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": idp_url, "aud": "demo-portal", "iat": now, "exp": now + 120, "jti": f"j{now}{changes}",
              "sid": "sid-1", "sub": "sub-1", "events": {EVENT: {}}}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _post(rp_app, token: str):
    return rp_app.test_client().post("/backchannel-logout", data={"logout_token": token})


def test_a_valid_logout_token_drops_only_the_matching_session(app, idp_url, rp):
    rp_app, store, mine, other = rp
    with app.app_context():
        client = db.session.query(Client).filter_by(client_id="demo-portal").one()
        token, _ = make_logout_token(client, sub="sub-1", sid="sid-1", jti="jti-valid")
    response = _post(rp_app, token)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert store.get(mine) is None and store.get(other) is not None
    # §2.6: the same jti again is a replay.
    assert _post(rp_app, token).status_code == 400


@pytest.mark.parametrize(("changes", "header", "reason"), [
    ({"nonce": "n"}, None, "nonce"),
    ({"aud": "someone-else"}, None, "aud"),
    ({"iss": "https://evil.example"}, None, "iss"),
    ({"events": {"other": {}}}, None, "event"),
    ({"sid": None, "sub": None}, None, "neither sid nor sub"),
    ({"iat": 1_000_000}, None, "iat"),
    ({}, {"typ": "JWT"}, "typ"),
])
def test_an_invalid_logout_token_is_refused_with_400_and_drops_nothing(app, idp_url, rp, changes,
                                                                      header, reason):
    rp_app, store, mine, other = rp
    response = _post(rp_app, _signed(app, _claims(idp_url, **changes), header))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert reason in response.get_json()["error_description"]
    assert store.get(mine) is not None and store.get(other) is not None


def test_a_token_not_signed_by_idp_is_refused(app, idp_url, rp):
    from joserfc.jwk import RSAKey

    rp_app, store, mine, _ = rp
    forged = jwt.encode({"alg": "RS256", "typ": "logout+jwt"}, _claims(idp_url),
                        RSAKey.generate_key(2048), algorithms=["RS256"])
    response = _post(rp_app, forged)
    assert response.status_code == 400 and store.get(mine) is not None



def test_the_agency_s_caller_page_is_unavailable_without_a_ciba_client(tmp_path):
    """``clients/agency``: a FAPI 2.0 client (its key made at first start, published at
    ``/jwks.json``); its CIBA page needs a client of its own and says so when it has none."""
    from agency.app import create_app as create_agency

    env = {"RP_ISSUER": "http://127.0.0.1:1", "RP_CLIENT_ID": "demo-agency",
           "RP_BASE_URL": "http://127.0.0.1:2", "RP_KEY_FILE": str(tmp_path / "key.json")}
    agency = create_agency(env).test_client()
    jwks = agency.get("/jwks.json").get_json()
    assert [k["kty"] for k in jwks["keys"]] == ["EC"] and "d" not in jwks["keys"][0]
    assert (tmp_path / "key.json").stat().st_mode & 0o777 == 0o600
    for response in (agency.get("/caller"), agency.post("/caller", data={"national_id": "1"})):
        assert response.status_code == 503 and 'id="unavailable"' in response.get_data(as_text=True)
    configured = create_agency({**env, "RP_CIBA_CLIENT_ID": "demo-agency-callcentre",
                                "RP_CIBA_CLIENT_SECRET": "s"}).test_client()
    page = configured.get("/caller")
    assert page.status_code == 200 and 'id="national_id"' in page.get_data(as_text=True)
