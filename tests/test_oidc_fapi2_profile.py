"""The fapi2 client profile (FAPI 2.0 Security Profile, final): registered with
``idp clients create --profile fapi2``, enforced by the server: PAR, PKCE S256,
private_key_jwt only, DPoP-bound tokens, codes living at most 60 s, ES256/PS256 only, errors
never downgraded to the front-channel query."""

from __future__ import annotations

import json
import time

import pytest
from joserfc.jwk import OKPKey, RSAKey
from sqlalchemy import select

from idp import create_app
from idp.db import db
from idp.oidc.models import AuthorizationCode
from tests.admin_support import idp, idp_json
from tests.fapi_support import (
    auth_params,
    client_auth,
    code_via_par,
    dpop_proof,
    dpop_token,
    new_key,
    push,
    register_fapi,
    request_object,
)
from tests.oidc_support import ISSUER, REDIRECT, authorize, basic, sign_in

TOKEN = f"{ISSUER}/token"


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


@pytest.fixture
def fapi(app):
    return register_fapi(app)


def _jwks_file(tmp_path, key) -> str:
    path = tmp_path / "bhxh-jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return str(path)


def test_cli_creates_a_fapi2_client_with_every_setting_enforced(app, tmp_path):
    created = idp_json(app, "clients", "create", "--profile", "fapi2", "--name", "Bảo hiểm xã hội",
                       "--redirect-uri", REDIRECT, "--jwks-file", _jwks_file(tmp_path, new_key()))
    assert created["profile"] == "fapi2" and created["client_secret"] is None
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert created["require_pushed_authorization_requests"] is True
    assert created["dpop_bound_access_tokens"] is True
    assert created["id_token_signed_response_alg"] == "ES256"
    shown = idp(app, "clients", "show", created["client_id"])
    assert shown.exit_code == 0 and "fapi2" in shown.output and "profile" in shown.output


@pytest.mark.parametrize("extra", [
    ["--auth-method", "client_secret_basic"],
    ["--no-require-dpop"],
    ["--no-require-par"],
    ["--grant-type", "client_credentials"],
])
def test_cli_refuses_a_fapi2_client_that_would_break_the_profile(app, tmp_path, extra):
    result = idp(app, "clients", "create", "--profile", "fapi2", "--name", "x", "--redirect-uri", REDIRECT,
                 "--jwks-file", _jwks_file(tmp_path, new_key()), *extra)
    assert result.exit_code != 0 and "fapi2" in result.output


def test_cli_require_par_and_require_dpop_for_any_client(app):
    created = idp_json(app, "clients", "create", "--name", "x", "--redirect-uri", REDIRECT,
                       "--require-par", "--require-dpop")
    assert created["require_pushed_authorization_requests"] is True
    assert created["dpop_bound_access_tokens"] is True and created["profile"] is None


def test_front_channel_without_par_is_refused(browser, fapi, signed_in):
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    response = authorize(browser, fapi[0], **params)
    assert response.status_code == 400 and "Location" not in response.headers


def test_a_signed_request_by_value_without_par_is_refused(browser, fapi, signed_in):
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    obj = request_object(*fapi, params)
    response = browser.get("/authorize", query_string={"client_id": fapi[0], "request": obj})
    assert response.status_code == 400 and "pushed authorization" in response.get_data(as_text=True)


def test_client_secret_basic_is_refused(app, browser, fapi, signed_in):
    """FAPI 2.0 §5.3.2.1: private_key_jwt (or mTLS) only; the client has no secret at all."""
    response = browser.post("/par", data={k: v for k, v in auth_params().items() if not k.startswith("_")},
                            headers=basic(fapi[0], "guessed-secret"))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    redirect, verifier = code_via_par(browser, *fapi)
    token = browser.post("/token", data={"grant_type": "authorization_code", "code": redirect["code"],
                                         "redirect_uri": REDIRECT, "code_verifier": verifier},
                         headers={**basic(fapi[0], "guessed-secret"),
                                  "DPoP": dpop_proof(new_key("d"), "POST", TOKEN)})
    assert token.status_code == 401 and token.get_json()["error"] == "invalid_client"


def test_pkce_is_required(browser, fapi):
    """FAPI 2.0 §5.3.2.2 item 4 (a confidential client too)."""
    response = push(browser, *fapi, auth_params(code_challenge=None, code_challenge_method=None))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_authorization_code_lives_at_most_60_seconds(app, environ, citizen_id):
    app = create_app({**environ, "IDP_AUTHORIZATION_CODE_TTL": "600"})
    browser = app.test_client()
    sign_in(app, browser, citizen_id)
    client_id, key = register_fapi(app)
    code_via_par(browser, client_id, key)
    with app.app_context():
        row = db.session.scalars(select(AuthorizationCode)).one()
        assert (row.expires_at - row.created_at).total_seconds() <= 60
        db.session.remove()


def test_full_flow_gives_a_dpop_bound_token_and_an_es256_id_token(browser, fapi, signed_in):
    redirect, verifier = code_via_par(browser, *fapi)
    assert redirect["iss"] == ISSUER  # RFC 9207
    tokens = dpop_token(browser, *fapi, new_key("d"), redirect["code"], verifier).get_json()
    assert tokens["token_type"] == "DPoP" and tokens["refresh_token"]
    header = json.loads(__import__("base64").urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "ES256"


def test_rs256_client_assertion_is_refused(app, browser, signed_in):
    """FAPI 2.0 §5.4.1: PS256 or ES256."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
    client_id, key = register_fapi(app, "bank", key=rsa)
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    rs256 = browser.post("/par", data={**params, **client_auth(client_id, key, alg="RS256")})
    assert rs256.status_code in (400, 401) and rs256.get_json()["error"] == "invalid_client"
    ps256 = browser.post("/par", data={**params, **client_auth(client_id, key, alg="PS256")})
    assert ps256.status_code == 201


def test_eddsa_dpop_proof_is_refused_for_a_fapi2_client(browser, fapi, signed_in):
    redirect, verifier = code_via_par(browser, *fapi)
    ed = OKPKey.generate_key("Ed25519")
    response = browser.post("/token", data={
        "grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier, **client_auth(*fapi)},
        headers={"DPoP": dpop_proof(ed, "POST", TOKEN, alg="EdDSA")})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


def test_errors_keep_the_requested_response_mode(app, browser, signed_in):
    """A signed request asking for form_post gets its error by form_post, not downgraded to
    the query of the front-channel redirect (FAPI 2.0 §5.3.2.2; OAuth Form Post §2)."""
    client_id, key = register_fapi(app, "jar", profile=None)
    params = {k: v for k, v in auth_params(scope="openid nonsense", response_mode="form_post").items()
              if not k.startswith("_")}
    obj = request_object(client_id, key, params, exp=int(time.time()) + 60)
    response = browser.get("/authorize", query_string={"client_id": client_id, "request": obj})
    assert response.status_code == 200 and "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert 'name="error" value="invalid_scope"' in html and f'action="{REDIRECT}"' in html


def test_a_fapi2_client_assertion_must_name_the_issuer_alone(browser, fapi):
    """FAPI 2.0 §5.3.2.1: only the issuer identifier, as a string, is an accepted ``aud``."""
    params = {k: v for k, v in auth_params().items() if not k.startswith("_")}
    for aud in (f"{ISSUER}/token", f"{ISSUER}/par", [ISSUER]):
        response = browser.post("/par", data={**params, **client_auth(*fapi, aud=aud)})
        assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client", aud
    assert browser.post("/par", data={**params, **client_auth(*fapi)}).status_code == 201


def test_cli_update_can_remove_the_profile_keeping_par_and_dpop(app, tmp_path):
    created = idp_json(app, "clients", "create", "--profile", "fapi2", "--name", "x", "--redirect-uri",
                       REDIRECT, "--jwks-file", _jwks_file(tmp_path, new_key()))
    updated = idp_json(app, "clients", "update", created["client_id"], "--profile", "none")
    assert updated["profile"] is None and updated["changed"] == ["profile"]
    assert updated["require_pushed_authorization_requests"] is True
    assert updated["dpop_bound_access_tokens"] is True


def test_cli_update_can_move_a_secret_client_to_the_profile(app, tmp_path):
    """The stored ``false`` of PAR and DPoP is no refusal: the profile turns them on (as
    ``register_sample_clients`` converts an older secret-based demo-agency); the secrets go."""
    created = idp_json(app, "clients", "create", "--name", "x", "--redirect-uri", REDIRECT)
    assert created["client_secret"]
    updated = idp_json(app, "clients", "update", created["client_id"], "--profile", "fapi2",
                       "--auth-method", "private_key_jwt", "--jwks-file", _jwks_file(tmp_path, new_key()))
    assert updated["profile"] == "fapi2" and updated["token_endpoint_auth_method"] == "private_key_jwt"
    assert updated["require_pushed_authorization_requests"] is True
    assert updated["dpop_bound_access_tokens"] is True and updated["live_secrets"] == 0
    refused = idp(app, "clients", "update", created["client_id"], "--no-require-dpop")
    assert refused.exit_code != 0 and "requires dpop_bound_access_tokens" in refused.output
