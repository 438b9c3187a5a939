"""client_credentials tokens (RFC 6749 §4.4), authorization codes redeemed (RFC 6749 §4.1.3
with PKCE, RFC 7636 §4.6) and the introspection of active access tokens (RFC 7662 §2.2)
answered before Flask (idp.fastpath): the same answer, headers, tokens and audit event as the
Flask path gives, and every other request handed to Flask unchanged."""

from __future__ import annotations

import base64
import functools
import json

import pytest
from authlib.oidc.core.util import create_half_hash
from sqlalchemy import select

from idp.audit.log import verify_chain
from idp.audit.models import AuditEvent
from idp.db import db
from idp.fastpath import FastPath
from idp.keys import service as keys
from tests.oidc_support import REDIRECT, basic, code_for, exchange, pkce_pair, register, sign_in, tokens_for
from tests.schema import create_tables

CC = {"grant_type": "client_credentials"}


def _part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture
def flask_calls(app):
    """How many requests reached each Flask view (the token and introspection ones)."""
    calls = {"oidc.token": 0, "oidc.introspect": 0}
    for endpoint in calls:
        view = app.view_functions[endpoint]

        @functools.wraps(view)  # the same name: Flask-WTF exempts views from CSRF by name
        def counted(*args, _view=view, _endpoint=endpoint, **kwargs):
            calls[_endpoint] += 1
            return _view(*args, **kwargs)

        app.view_functions[endpoint] = counted
    return calls


@pytest.fixture
def flask_only(app, monkeypatch):
    """A test client on the same app without the answers given before Flask."""
    def make():
        outer = app.wsgi_app  # idp.process_threads.StartThreads, then the fast path
        assert isinstance(outer.wsgi_app, FastPath)
        monkeypatch.setattr(outer, "wsgi_app", outer.wsgi_app.wsgi_app)
        return app.test_client()
    return make


@pytest.fixture
def service(app):
    client_id, secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid signature.verify")
    return client_id, secret


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in ("content-length", "date")}


def _event(app, jti: str) -> dict:
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "token.issued")).all()
        (match,) = [e for e in event if e.details["jti"] == jti]
        return {"action": match.action, "actor": match.actor, "client_id": match.client_id,
                "citizen_id": match.citizen_id, "ip_address": match.ip_address,
                "user_agent": match.user_agent, "outcome": match.outcome,
                "details": {**match.details, "jti": "-"}}


def test_client_credentials_token_before_flask_is_the_flask_paths_token_headers_and_event(
        app, service, flask_calls, flask_only):
    client_id, secret = service
    request = {"data": {**CC, "scope": "signature.verify"},
               "headers": {**basic(client_id, secret), "User-Agent": "agency-backend/1.0"}}
    fast = app.test_client().post("/token", **request)
    assert flask_calls["oidc.token"] == 0, "answered before Flask"
    flask = flask_only().post("/token", **request)
    assert flask_calls["oidc.token"] == 1

    assert fast.status_code == flask.status_code == 200
    assert _headers(fast) == _headers(flask)
    assert fast.headers["Cache-Control"] == "no-store"  # RFC 6749 §5.1
    assert fast.get_json().keys() == flask.get_json().keys()
    assert fast.get_json()["scope"] == flask.get_json()["scope"] == "signature.verify"
    assert fast.get_json()["expires_in"] == flask.get_json()["expires_in"]
    fast_token, flask_token = fast.get_json()["access_token"], flask.get_json()["access_token"]
    assert _part(fast_token, 0) == _part(flask_token, 0)  # alg, typ at+jwt, kid (RFC 9068 §2.1)
    fast_claims, flask_claims = _part(fast_token, 1), _part(flask_token, 1)
    assert fast_claims.keys() == flask_claims.keys()
    for name in ("iss", "aud", "sub", "client_id", "scope"):
        assert fast_claims[name] == flask_claims[name]
    assert fast_claims["exp"] - fast_claims["iat"] == flask_claims["exp"] - flask_claims["iat"]
    assert fast_claims["jti"] != flask_claims["jti"]

    fast_event, flask_event = _event(app, fast_claims["jti"]), _event(app, flask_claims["jti"])
    assert fast_event == flask_event
    assert fast_event["ip_address"] == "127.0.0.1"
    assert fast_event["user_agent"] == "agency-backend/1.0"
    with app.app_context():
        assert verify_chain()[1] is None


def test_introspection_before_flask_is_the_flask_paths_answer(app, service, flask_calls, flask_only):
    client_id, secret = service
    token = app.test_client().post("/token", data=CC, headers=basic(client_id, secret)).get_json()
    request = {"data": {"token": token["access_token"], "token_type_hint": "access_token"},
               "headers": basic(client_id, secret)}
    fast = app.test_client().post("/introspect", **request)
    again = app.test_client().post("/introspect", **request)  # the remembered signature
    assert flask_calls["oidc.introspect"] == 0, "answered before Flask"
    flask = flask_only().post("/introspect", **request)
    assert flask_calls["oidc.introspect"] == 1
    assert fast.status_code == again.status_code == flask.status_code == 200
    assert fast.get_json() == again.get_json() == flask.get_json()
    assert fast.get_json()["active"] is True
    assert _headers(fast) == _headers(flask)


def test_client_secret_post_is_answered_before_flask_too(app, flask_calls):
    client_id, secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid", token_endpoint_auth_method="client_secret_post")
    answer = app.test_client().post("/token", data={**CC, "client_id": client_id, "client_secret": secret})
    assert answer.status_code == 200
    token = answer.get_json()["access_token"]
    introspected = app.test_client().post("/introspect", data={
        "token": token, "client_id": client_id, "client_secret": secret})
    assert introspected.get_json()["active"] is True
    assert flask_calls == {"oidc.token": 0, "oidc.introspect": 0}


@pytest.mark.parametrize(("data", "headers", "status", "error"), [
    pytest.param(CC, "wrong secret", 401, "invalid_client", id="wrong-secret"),
    pytest.param(CC, None, 401, "invalid_client", id="no-credentials"),
    pytest.param("grant_type=client_credentials&grant_type=client_credentials", "ok", 400,
                 "invalid_request", id="repeated-parameter-rfc6749-3.2"),
    pytest.param({**CC, "scope": "openid"}, "ok", 400, "invalid_scope", id="openid-needs-a-citizen"),
    pytest.param({**CC, "scope": "unknown"}, "ok", 400, "invalid_scope", id="unknown-scope"),
    pytest.param({**CC, "resource": "https://api.example"}, "ok", 200, None, id="extra-parameter"),
    pytest.param({"grant_type": "password", "username": "a", "password": "b"}, "ok", 400,
                 "unsupported_grant_type", id="other-grant"),
])
def test_token_requests_the_fast_path_does_not_answer_reach_flask_with_their_body(
        app, service, flask_calls, data, headers, status, error):
    """Anything but a request that will succeed, with only the parameters it knows, is Flask's
    to answer; Flask reads the same body (a lost body would be ``unsupported_grant_type``)."""
    client_id, secret = service
    auth = {"ok": basic(client_id, secret), "wrong secret": basic(client_id, "wrong"), None: {}}[headers]
    kwargs = {"data": data, "headers": auth}
    if isinstance(data, str):
        kwargs["content_type"] = "application/x-www-form-urlencoded"
    answer = app.test_client().post("/token", **kwargs)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json().get("error") == error
    assert flask_calls["oidc.token"] == 1


def test_a_disabled_client_is_refused_at_once_by_the_fast_path(app, service):
    client_id, secret = service
    client = app.test_client()
    token = client.post("/token", data=CC, headers=basic(client_id, secret)).get_json()["access_token"]
    assert client.post("/introspect", data={"token": token},
                       headers=basic(client_id, secret)).status_code == 200
    from idp.oidc.clients.registry import find_client, set_enabled

    with app.app_context():
        set_enabled(find_client(client_id), False)
        db.session.commit()
    assert client.post("/token", data=CC, headers=basic(client_id, secret)).status_code == 401
    assert client.post("/introspect", data={"token": token},
                       headers=basic(client_id, secret)).status_code == 401


def test_introspection_the_fast_path_does_not_answer_is_flasks(app, service, rp, citizen_id, browser,
                                                                flask_calls):
    """Revoked, foreign and refresh tokens: RFC 7662 §2.2 answers given by Flask."""
    client_id, secret = service
    client = app.test_client()
    token = client.post("/token", data=CC, headers=basic(client_id, secret)).get_json()["access_token"]
    other_id, other_secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                      scope="openid")
    foreign = client.post("/introspect", data={"token": token}, headers=basic(other_id, other_secret))
    assert foreign.get_json() == {"active": False}
    sign_in(app, browser, citizen_id)
    citizen_tokens = tokens_for(browser, *rp)
    refresh = client.post("/introspect", data={"token": citizen_tokens["refresh_token"]},
                          headers=basic(*rp))
    assert refresh.get_json()["active"] is True
    assert refresh.get_json()["token_type"] == "refresh_token"
    assert client.post("/revoke", data={"token": token}, headers=basic(client_id, secret)).status_code == 200
    revoked = client.post("/introspect", data={"token": token}, headers=basic(client_id, secret))
    assert revoked.get_json() == {"active": False}
    assert flask_calls["oidc.introspect"] == 3


def test_a_withdrawn_key_stops_validating_tokens_whose_signature_was_remembered(app, service):
    """The remembered signatures (idp.oidc.tokens.access.VerifiedSignatures) are tied to the key
    set that verified them: a key withdrawn at once (compromised) invalidates them at once."""
    client_id, secret = service
    client = app.test_client()
    token = client.post("/token", data=CC, headers=basic(client_id, secret)).get_json()["access_token"]
    for _ in range(2):
        assert client.post("/introspect", data={"token": token},
                           headers=basic(client_id, secret)).get_json()["active"] is True
    with app.app_context():
        keys.retire(_part(token, 0)["kid"], force=True)
        db.session.commit()
    assert client.post("/introspect", data={"token": token},
                       headers=basic(client_id, secret)).get_json() == {"active": False}
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_behind_a_proxy_the_fast_paths_event_has_the_forwarded_address(environ):
    from idp import create_app

    application = create_app({**environ, "IDP_PROXY_FIX_X_FOR": "1"})
    with application.app_context():
        create_tables()
    try:
        client_id, secret = register(application, grant_types=["client_credentials"],
                                     redirect_uris=[], scope="openid")
        answer = application.test_client().post("/token", data=CC, headers={
            **basic(client_id, secret), "X-Forwarded-For": "203.0.113.7"})
        assert answer.status_code == 200
        event = _event(application, _part(answer.get_json()["access_token"], 1)["jti"])
        assert event["ip_address"] == "203.0.113.7"
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def test_an_error_in_the_fast_path_leaves_the_request_to_flask(app, service, flask_calls,
                                                               monkeypatch, caplog):
    """Whatever fails before the answer (the database, say), the request goes to Flask with its
    body, which answers as it always did: never a 500 from the path before it."""
    client_id, secret = service

    def broken(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr("idp.fastpath.client_auth.client_record", broken)
    answer = app.test_client().post("/token", data=CC, headers=basic(client_id, secret))
    assert answer.status_code == 200 and answer.get_json()["token_type"] == "Bearer"
    assert flask_calls["oidc.token"] == 1
    assert "/token answered by Flask after an error before it" in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
def test_a_repeated_parameter_is_refused_at_introspection_and_revocation(app, service, path):
    """RFC 6749 §3.1/§3.2 ("MUST NOT be included more than once"), RFC 7662 §2.1 and RFC 7009
    §2.1 use the same form encoding: two ``token`` values are refused, not one of them picked."""
    client_id, secret = service
    client = app.test_client()
    token = client.post("/token", data=CC, headers=basic(client_id, secret)).get_json()["access_token"]
    answer = client.post(path, data=f"token={token}&token={token}", headers=basic(client_id, secret),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"
    assert client.post("/introspect", data={"token": token},
                       headers=basic(client_id, secret)).get_json()["active"] is True


# -- authorization codes ---------------------------------------------------------------------------


def _code(browser, client_id: str, **params) -> tuple[str, str]:
    """A code from an authorization with PKCE (S256) and a nonce, and its verifier."""
    verifier, challenge = pkce_pair()
    code = code_for(browser, client_id, code_challenge=challenge, code_challenge_method="S256",
                    nonce="n-0S6_WzA2Mj", **params)["code"]
    return code, verifier


def _same_but(fast: dict, flask: dict, fresh: tuple[str, ...]) -> None:
    assert fast.keys() == flask.keys()
    assert {k: v for k, v in fast.items() if k not in fresh} == \
        {k: v for k, v in flask.items() if k not in fresh}


def test_a_code_redeemed_before_flask_gives_the_flask_paths_tokens_headers_and_event(
        app, rp, citizen_id, browser, flask_calls, flask_only):
    """OIDC Core §3.1.3.3 and §3.1.3.6: the token response and its ID token (nonce, auth_time,
    acr, amr, sid, at_hash) are the Flask path's, claim for claim."""
    client_id, secret = rp
    sign_in(app, browser, citizen_id, amr=("pwd", "otp"), acr="urn:idp:acr:substantial")
    code, verifier = _code(browser, client_id, scope="openid profile")
    fast = exchange(browser, client_id, secret, code, verifier=verifier)
    assert flask_calls["oidc.token"] == 0, "answered before Flask"
    code, verifier = _code(browser, client_id, scope="openid profile")
    flask = exchange(flask_only(), client_id, secret, code, verifier=verifier)
    assert flask_calls["oidc.token"] == 1

    assert fast.status_code == flask.status_code == 200
    assert _headers(fast) == _headers(flask)
    assert fast.headers["Cache-Control"] == "no-store"  # RFC 6749 §5.1
    _same_but(fast.get_json(), flask.get_json(), ("access_token", "refresh_token", "id_token"))
    fast_access, flask_access = fast.get_json()["access_token"], flask.get_json()["access_token"]
    assert _part(fast_access, 0) == _part(flask_access, 0)
    _same_but(_part(fast_access, 1), _part(flask_access, 1), ("jti", "iat", "exp"))
    fast_id, flask_id = fast.get_json()["id_token"], flask.get_json()["id_token"]
    assert _part(fast_id, 0) == _part(flask_id, 0)
    id_claims = _part(fast_id, 1)
    _same_but(id_claims, _part(flask_id, 1), ("iat", "exp", "at_hash"))
    assert id_claims["nonce"] == "n-0S6_WzA2Mj" and {"pwd", "otp"} <= set(id_claims["amr"])
    assert id_claims["acr"] == "urn:idp:acr:substantial" and id_claims["aud"] == client_id
    assert id_claims["at_hash"] == create_half_hash(fast_access, _part(fast_id, 0)["alg"]).decode()

    fast_event = _event(app, _part(fast_access, 1)["jti"])
    assert fast_event == _event(app, _part(flask_access, 1)["jti"])
    assert fast_event["citizen_id"] == citizen_id
    with app.app_context():
        assert verify_chain()[1] is None
    # The refresh token the fast path stored works (its family was started with the claim).
    refreshed = browser.post("/token", data={"grant_type": "refresh_token",
                                             "refresh_token": fast.get_json()["refresh_token"]},
                             headers=basic(client_id, secret))
    assert refreshed.status_code == 200, refreshed.get_json()


def test_a_code_presented_again_is_refused_by_flask_which_revokes_what_it_issued(
        app, rp, citizen_id, browser, flask_calls):
    """RFC 6749 §4.1.2: a second use of a code is refused, and the tokens the first use
    obtained (through the fast path) are revoked."""
    client_id, secret = rp
    sign_in(app, browser, citizen_id)
    code, verifier = _code(browser, client_id)
    first = exchange(browser, client_id, secret, code, verifier=verifier)
    assert first.status_code == 200 and flask_calls["oidc.token"] == 0
    again = exchange(browser, client_id, secret, code, verifier=verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert flask_calls["oidc.token"] == 1
    introspected = browser.post("/introspect", data={"token": first.get_json()["access_token"]},
                                headers=basic(client_id, secret))
    assert introspected.get_json() == {"active": False}
    refreshed = browser.post("/token", data={"grant_type": "refresh_token",
                                             "refresh_token": first.get_json()["refresh_token"]},
                             headers=basic(client_id, secret))
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("change", "status", "error"), [
    pytest.param({"verifier": "x" * 43}, 400, "invalid_grant", id="wrong-verifier-rfc7636-4.6"),
    pytest.param({"verifier": None}, 400, "invalid_request", id="no-verifier-rfc7636-4.5"),
    pytest.param({"redirect_uri": REDIRECT + "/other"}, 400, "invalid_grant",
                 id="other-redirect-uri-rfc6749-4.1.3"),
    pytest.param({"secret": "wrong"}, 401, "invalid_client", id="wrong-secret"),
    pytest.param({"auth": "post"}, 401, "invalid_client", id="unregistered-auth-method"),
    pytest.param({"extra": {"scope": "openid"}}, 200, None, id="extra-parameter"),
    pytest.param({"no_pkce": True}, 400, "invalid_request", id="verifier-without-challenge-rfc9700-4.8"),
])
def test_code_redemptions_the_fast_path_does_not_answer_reach_flask_with_their_body(
        app, rp, citizen_id, browser, flask_calls, change, status, error):
    """Anything but a redemption that will succeed, with only the parameters it knows, is
    Flask's to answer, with Flask's error; the code stays usable after a refused proof."""
    client_id, secret = rp
    sign_in(app, browser, citizen_id)
    if change.get("no_pkce"):
        code, verifier = code_for(browser, client_id)["code"], pkce_pair()[0]
    else:
        code, verifier = _code(browser, client_id)
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": change.get("redirect_uri", REDIRECT), **change.get("extra", {})}
    if change.get("verifier", verifier) is not None:
        data["code_verifier"] = change.get("verifier", verifier)
    if change.get("auth") == "post":
        data.update(client_id=client_id, client_secret=secret)
        headers = {}
    else:
        headers = basic(client_id, change.get("secret", secret))
    answer = browser.post("/token", data=data, headers=headers)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json().get("error") == error
    assert flask_calls["oidc.token"] == 1
    if status != 200 and not change.get("no_pkce"):
        assert exchange(browser, client_id, secret, code, verifier=verifier).status_code == 200


def test_a_code_claimed_by_a_concurrent_request_leaves_the_answer_to_flask(
        app, rp, citizen_id, browser, flask_calls, monkeypatch):
    """The claim is the last check (RFC 6749 §4.1.2): a code redeemed between the fast path's
    read and its claim stores nothing there, and Flask refuses it and revokes the other use."""
    import idp.fastpath.authorization_code as fast_code

    client_id, secret = rp
    sign_in(app, browser, citizen_id)
    code, verifier = _code(browser, client_id)
    real, other = fast_code.redeem, {}

    def raced(row, *args):
        monkeypatch.setattr(fast_code, "redeem", real)
        other["answer"] = exchange(app.test_client(), client_id, secret, code, verifier=verifier)
        return real(row, *args)

    monkeypatch.setattr(fast_code, "redeem", raced)
    answer = exchange(browser, client_id, secret, code, verifier=verifier)
    assert other["answer"].status_code == 200  # the concurrent redemption, itself before Flask
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert flask_calls["oidc.token"] == 1
    introspected = browser.post("/introspect", data={"token": other["answer"].get_json()["access_token"]},
                                headers=basic(client_id, secret))
    assert introspected.get_json() == {"active": False}
