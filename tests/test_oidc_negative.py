"""What relying parties get wrong, and the exact error each gets (RFC 6749 §4.1.2.1, §5.2;
RFC 7636 §4.6; RFC 7523 §3; RFC 7662 §2.2; RFC 9700 §4.14). Never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update

from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import AuthorizationCode, RefreshToken, RefreshTokenFamily
from tests.oidc_support import (
    ISSUER,
    REDIRECT,
    authorize,
    basic,
    code_for,
    exchange,
    pkce_pair,
    redirect_params,
    register,
    sign_in,
    tokens_for,
)


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


def _refresh(browser, rp, refresh_token):
    return browser.post("/token", headers=basic(*rp),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_reused_code_is_invalid_grant_and_revokes_its_tokens(browser, rp, signed_in):
    """RFC 6749 §4.1.2: MUST deny, SHOULD revoke tokens previously issued from the code."""
    code = code_for(browser, rp[0])["code"]
    tokens = exchange(browser, *rp, code).get_json()
    reuse = exchange(browser, *rp, code)
    assert (reuse.status_code, reuse.get_json()["error"]) == (400, "invalid_grant")
    introspect = browser.post("/introspect", headers=basic(*rp), data={"token": tokens["access_token"]})
    assert introspect.get_json() == {"active": False}


def test_missing_redirect_uri_is_an_error_page(browser, rp, signed_in):
    """OIDC Core §3.1.2.1: redirect_uri is REQUIRED; without it there is nowhere safe to redirect."""
    response = authorize(browser, rp[0], redirect_uri=None)
    assert response.status_code == 400 and "Location" not in response.headers


def test_redirect_uri_is_compared_exactly(browser, rp, signed_in):
    """RFC 9700 §4.1.3: no prefix or case games."""
    for uri in (REDIRECT + "/", REDIRECT + "?x=1", REDIRECT.upper(), REDIRECT + "#f"):
        response = authorize(browser, rp[0], redirect_uri=uri)
        assert response.status_code == 400 and "Location" not in response.headers


def test_unknown_client_is_an_error_page(browser, signed_in):
    response = authorize(browser, "nobody")
    assert response.status_code == 400 and "Location" not in response.headers


def test_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(app, browser, signed_in):
    """RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request."""
    client_id, secret = register(app, client_id="two", redirect_uris=[REDIRECT, "https://rp.example.gov.vn/b"])
    code = code_for(browser, client_id)["code"]
    response = exchange(browser, client_id, secret, code, redirect_uri="https://rp.example.gov.vn/b")
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_grant")


def test_repeated_parameter_is_invalid_request(browser, rp, signed_in):
    """RFC 6749 §3.1: parameters MUST NOT be included more than once."""
    response = browser.get(f"/authorize?response_type=code&client_id={rp[0]}&redirect_uri={REDIRECT}"
                           "&scope=openid&state=a&state=b")
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.fixture
def public_rp(app):
    return register(app, client_id="mobile", token_endpoint_auth_method="none")[0]


def test_public_client_without_pkce_is_refused(browser, public_rp, signed_in):
    """RFC 9700 §2.1.1: public clients MUST use PKCE."""
    params = redirect_params(authorize(browser, public_rp))
    assert params["error"] == "invalid_request"


def test_plain_code_challenge_is_refused(browser, public_rp, signed_in):
    """RFC 9700 §2.1.1: plain is not a challenge method this server accepts."""
    params = redirect_params(authorize(browser, public_rp, code_challenge="a" * 43,
                                       code_challenge_method="plain"))
    assert params["error"] == "invalid_request"


@pytest.mark.parametrize("verifier, error", [(None, "invalid_request"), ("b" * 43, "invalid_grant"),
                                             ("short", "invalid_request")])
def test_missing_or_wrong_code_verifier(browser, public_rp, signed_in, verifier, error):
    """RFC 7636 §4.6: a wrong verifier is invalid_grant; a missing one invalid_request."""
    _, challenge = pkce_pair()
    code = code_for(browser, public_rp, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(browser, public_rp, None, code, verifier=verifier, auth="none")
    assert (response.status_code, response.get_json()["error"]) == (400, error)


def test_public_client_with_pkce_gets_tokens(browser, public_rp, signed_in):
    verifier, challenge = pkce_pair()
    code = code_for(browser, public_rp, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(browser, public_rp, None, code, verifier=verifier, auth="none")
    assert response.status_code == 200 and "id_token" in response.get_json()


def test_expired_code_is_invalid_grant(app, browser, rp, signed_in):
    """RFC 6749 §4.1.2: codes are short-lived (60 s here)."""
    code = code_for(browser, rp[0])["code"]
    with app.app_context():
        db.session.execute(update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = exchange(browser, *rp, code)
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_grant")


def test_wrong_client_secret_is_invalid_client_401(browser, rp, signed_in):
    """RFC 6749 §5.2: invalid_client, 401 with HTTP Basic."""
    code = code_for(browser, rp[0])["code"]
    response = exchange(browser, rp[0], "wrong-secret", code)
    assert (response.status_code, response.get_json()["error"]) == (401, "invalid_client")


def test_refresh_token_reuse_revokes_the_family(app, browser, rp, signed_in):
    """RFC 9700 §4.14.2: a rotated refresh token presented again revokes every token of its family."""
    first = tokens_for(browser, *rp)
    second = _refresh(browser, rp, first["refresh_token"]).get_json()
    reuse = _refresh(browser, rp, first["refresh_token"])
    assert (reuse.status_code, reuse.get_json()["error"]) == (400, "invalid_grant")
    after = _refresh(browser, rp, second["refresh_token"])
    assert (after.status_code, after.get_json()["error"]) == (400, "invalid_grant")
    userinfo = browser.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert userinfo.status_code == 401
    with app.app_context():
        family = db.session.scalar(select(RefreshTokenFamily))
        assert family.revoked_reason == "refresh_token_reuse"


def test_refresh_token_exchanged_concurrently_after_it_was_read_is_reuse(app, browser, rp, signed_in,
                                                                         monkeypatch):
    """RFC 9700 §4.14.2: of two requests presenting one refresh token at once, the one that finds
    it exchanged when it comes to rotate it gets invalid_grant, stores nothing, and revokes the
    family (the claim and the successor are one atomic step, after the read)."""
    from idp.oidc.tokens import refresh as families

    first = tokens_for(browser, *rp)
    read = families.find_for_exchange

    def read_then_exchanged_elsewhere(token):
        found = read(token)  # seen not yet exchanged; the other request's claim (Core: the
        tokens = RefreshToken.__table__  # object read keeps what it read)
        db.session.execute(tokens.update().where(tokens.c.id == found[0].id).values(rotated_at=utcnow()))
        return found

    monkeypatch.setattr(families, "find_for_exchange", read_then_exchanged_elsewhere)
    raced = _refresh(browser, rp, first["refresh_token"])
    assert (raced.status_code, raced.get_json()["error"]) == (400, "invalid_grant")
    assert "refresh_token" not in raced.get_json()
    with app.app_context():
        family = db.session.scalar(select(RefreshTokenFamily))
        assert family.revoked_reason == "refresh_token_reuse"
        assert db.session.scalar(select(func.count()).select_from(RefreshToken)) == 1  # no successor
    userinfo = browser.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert userinfo.status_code == 401


def test_refresh_token_is_bound_to_its_client(app, browser, rp, signed_in):
    other = register(app, client_id="other")
    tokens = tokens_for(browser, *rp)
    response = _refresh(browser, other, tokens["refresh_token"])
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_grant")
    assert _refresh(browser, rp, tokens["refresh_token"]).status_code == 200


def test_unknown_scope_is_invalid_scope(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], scope="openid superpowers", state="u"))
    assert params["error"] == "invalid_scope" and params["state"] == "u"


def test_scope_not_registered_for_the_client_is_invalid_scope(app, browser, signed_in):
    """The national identifier goes only to clients allowed the national_id scope."""
    client_id, _ = register(app, client_id="plain", scope="openid profile")
    params = redirect_params(authorize(browser, client_id, scope="openid national_id"))
    assert params["error"] == "invalid_scope"


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "none"])
def test_unsupported_response_type(browser, rp, signed_in, response_type):
    params = redirect_params(authorize(browser, rp[0], response_type=response_type))
    assert params["error"] == "unsupported_response_type" and params["iss"] == ISSUER


def test_token_of_client_a_introspected_by_client_b_is_inactive(app, browser, rp, signed_in):
    """RFC 7662 §2.2: a token the caller may not see is reported as not active."""
    other = register(app, client_id="agency-b")
    tokens = tokens_for(browser, *rp)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        seen_by_b = browser.post("/introspect", headers=basic(*other), data={"token": token})
        assert seen_by_b.status_code == 200 and seen_by_b.get_json() == {"active": False}
        seen_by_a = browser.post("/introspect", headers=basic(*rp), data={"token": token})
        assert seen_by_a.get_json()["active"] is True


def test_introspection_needs_client_authentication(browser, rp, signed_in):
    tokens = tokens_for(browser, *rp)
    response = browser.post("/introspect", data={"token": tokens["access_token"]})
    assert (response.status_code, response.get_json()["error"]) == (401, "invalid_client")


def test_disabled_client_cannot_authorize_or_use_its_tokens(app, browser, rp, signed_in):
    from idp.oidc.clients.registry import set_enabled
    from idp.oidc.models import Client

    tokens = tokens_for(browser, *rp)
    with app.app_context():
        set_enabled(db.session.scalar(select(Client).where(Client.client_id == rp[0])), False)
        db.session.commit()
    assert authorize(browser, rp[0]).status_code == 400
    userinfo = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    assert _refresh(browser, rp, tokens["refresh_token"]).status_code == 401


def test_denied_consent_is_access_denied(browser, rp, signed_in):
    from tests.oidc_support import decide

    page = authorize(browser, rp[0], scope="openid profile", state="d")
    params = redirect_params(decide(browser, page, "deny"))
    assert params["error"] == "access_denied" and params["state"] == "d" and params["iss"] == ISSUER


def test_prompt_none_without_consent_is_consent_required(browser, rp, signed_in):
    params = redirect_params(authorize(browser, rp[0], scope="openid profile", prompt="none"))
    assert params["error"] == "consent_required"


def test_consent_is_remembered_per_scope_set(browser, rp, signed_in):
    from tests.oidc_support import decide

    page = authorize(browser, rp[0], scope="openid profile")
    redirect_params(decide(browser, page, "allow"))
    assert "code" in redirect_params(authorize(browser, rp[0], scope="openid profile", prompt="none"))
    wider = authorize(browser, rp[0], scope="openid profile email")
    assert wider.status_code == 200 and 'value="allow"' in wider.get_data(as_text=True)


# -- private_key_jwt (RFC 7523) --------------------------------------------------------------


@pytest.fixture
def jwt_rp(app):
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-1"})
    client_id, _ = register(app, client_id="agency-jwt", token_endpoint_auth_method="private_key_jwt",
                            jwks={"keys": [key.as_dict(private=False)]},
                            grant_types=["authorization_code", "refresh_token", "client_credentials"])
    return client_id, key


def _assertion(client_id, key, aud=f"{ISSUER}/token"):
    return private_key_jwt_sign(key, client_id=client_id, token_endpoint=aud, alg="RS256")


def _client_credentials(browser, client_id, assertion, scope="profile"):
    return browser.post("/token", data={
        "grant_type": "client_credentials", "scope": scope, "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})


def test_private_key_jwt_authenticates_and_replay_is_refused(browser, jwt_rp):
    client_id, key = jwt_rp
    assertion = _assertion(client_id, key)
    first = _client_credentials(browser, client_id, assertion)
    assert first.status_code == 200 and "refresh_token" not in first.get_json()
    replay = _client_credentials(browser, client_id, assertion)
    # RFC 6749 §5.2: invalid_client; 400 as the client did not use the Authorization header.
    assert (replay.status_code, replay.get_json()["error"]) == (400, "invalid_client")


def test_a_replay_within_the_exp_leeway_is_refused_after_a_purge(app, browser, jwt_rp):
    """RFC 7523 §3 item 7: an assertion accepted up to LEEWAY seconds past its exp has its jti
    remembered that long; a purge run in between must not forget it."""
    import time

    client_id, key = jwt_rp
    now = int(time.time())
    assertion = private_key_jwt_sign(key, client_id=client_id, token_endpoint=f"{ISSUER}/token",
                                     alg="RS256", issued_at=now - 70, expires_at=now - 10)
    assert _client_credentials(browser, client_id, assertion).status_code == 200  # within leeway
    purged = app.test_cli_runner().invoke(args=["maintenance", "purge"])
    assert purged.exit_code == 0, purged.output
    replay = _client_credentials(browser, client_id, assertion)
    assert (replay.status_code, replay.get_json()["error"]) == (400, "invalid_client")


def test_private_key_jwt_with_another_audience_is_refused(browser, jwt_rp):
    client_id, key = jwt_rp
    response = _client_credentials(browser, client_id,
                                   _assertion(client_id, key, "https://other.example/token"))
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_client")


def test_private_key_jwt_signed_by_another_key_is_refused(browser, jwt_rp):
    client_id, _ = jwt_rp
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rp-1"})
    response = _client_credentials(browser, client_id, _assertion(client_id, stranger))
    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_client")


def test_client_credentials_token_has_the_client_as_subject(browser, jwt_rp):
    from joserfc import jwt as jose_jwt

    from tests.oidc_support import jwks_of

    client_id, key = jwt_rp
    token = _client_credentials(browser, client_id, _assertion(client_id, key)).get_json()["access_token"]
    claims = jose_jwt.decode(token, jwks_of(browser)).claims
    assert claims["sub"] == client_id and claims["client_id"] == client_id and "auth_time" not in claims


def test_client_credentials_refuses_openid_and_unknown_scopes(browser, jwt_rp):
    client_id, key = jwt_rp
    for scope in ("openid", "superpowers"):
        response = _client_credentials(browser, client_id, _assertion(client_id, key), scope=scope)
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_scope")


def test_unsupported_grant_type(browser, rp):
    response = browser.post("/token", headers=basic(*rp), data={"grant_type": "password"})
    assert (response.status_code, response.get_json()["error"]) == (400, "unsupported_grant_type")


def test_public_client_cannot_use_client_credentials(browser, public_rp):
    response = browser.post("/token", data={"grant_type": "client_credentials", "client_id": public_rp})
    assert response.status_code in (400, 401) and response.get_json()["error"] in (
        "invalid_client", "unauthorized_client")
