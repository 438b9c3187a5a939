"""The answers given before Flask (idp.fastpath) and the Flask path's are the same answer: one
table of requests is sent to an app with the fast path and to one with ``IDP_FAST_PATH=off`` on
the same database, and status, headers (Date aside) and bytes must match. Token answers carry
a fresh token each time, so for them the shape is compared: the JOSE header, the claim names,
every claim but ``jti``/``iat``/``exp``, the lifetime (RFC 9068 §2.2).

It covers good and bad client credentials (RFC 6749 §2.3.1), the wrong authentication method
for the client's registration, a repeated parameter (RFC 6749 §3.2), strong and weak
``If-None-Match`` (RFC 9110 §13.1.2), HEAD, and unknown tokens (RFC 7662 §2.2)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from idp import create_app
from idp.audit.models import AuditEvent
from idp.db import db
from idp.db.types import utcnow
from idp.fastpath import FastPath
from idp.oidc.models import Client, UsedClientAssertion
from idp.process_threads import StartThreads
from tests.helpers import free_port, idp_env, run_idp, wait_for
from tests.oidc_support import basic, register

GRANIAN = str(Path(sys.executable).with_name("granian"))

DISCOVERY = "/.well-known/openid-configuration"
AS_METADATA = "/.well-known/oauth-authorization-server"
JWKS = "/.well-known/jwks.json"


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    data: str | None = None  # a form body, written out so a parameter can be repeated


@pytest.fixture
def apps(app, environ):
    """The fast app (the ``app`` fixture) and a Flask-only app on the same database."""
    assert isinstance(app.wsgi_app, StartThreads) and isinstance(app.wsgi_app.wsgi_app, FastPath)
    flask_only = create_app({**environ, "IDP_FAST_PATH": "off"})
    flask_only.config["TESTING"] = True
    assert not isinstance(flask_only.wsgi_app.wsgi_app, FastPath)
    yield app, flask_only
    with flask_only.app_context():
        db.engine.dispose()


@pytest.fixture
def world(app):
    """Two agency back-ends, one authenticating with Basic and one with the form (RFC 6749
    §2.3.1), and an access token of each."""
    basic_id, basic_secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                      scope="openid signature.verify")
    post_id, post_secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                    scope="openid signature.verify",
                                    token_endpoint_auth_method="client_secret_post")
    client = app.test_client()
    basic_token = client.post("/token", data={"grant_type": "client_credentials"},
                              headers=basic(basic_id, basic_secret)).get_json()["access_token"]
    post_token = client.post("/token", data={"grant_type": "client_credentials", "client_id": post_id,
                                             "client_secret": post_secret}).get_json()["access_token"]
    etags = {path: client.get(path).headers["ETag"] for path in (DISCOVERY, AS_METADATA, JWKS)}
    return {"basic_id": basic_id, "basic_secret": basic_secret, "post_id": post_id,
            "post_secret": post_secret, "basic_token": basic_token, "post_token": post_token,
            "etags": etags}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _calls(w: dict) -> dict[str, Call]:
    good_basic = basic(w["basic_id"], w["basic_secret"])
    post_creds = f"client_id={w['post_id']}&client_secret={w['post_secret']}"
    calls: dict[str, Call] = {}
    for name, path in (("discovery", DISCOVERY), ("as-metadata", AS_METADATA), ("jwks", JWKS)):
        etag = w["etags"][path]
        calls |= {
            f"{name} GET": Call("GET", path),
            f"{name} HEAD": Call("HEAD", path),
            f"{name} strong If-None-Match": Call("GET", path, {"If-None-Match": etag}),
            f"{name} weak If-None-Match": Call("GET", path, {"If-None-Match": f"W/{etag}"}),
            f"{name} If-None-Match list": Call("GET", path, {"If-None-Match": f'"other", W/{etag}'}),
            f"{name} If-None-Match *": Call("GET", path, {"If-None-Match": "*"}),
            f"{name} other If-None-Match": Call("GET", path, {"If-None-Match": '"not-this-one"'}),
            f"{name} HEAD If-None-Match": Call("HEAD", path, {"If-None-Match": etag}),
            f"{name} POST": Call("POST", path),
        }
    calls |= {
        "token basic": Call("POST", "/token", {**FORM, **good_basic}, "grant_type=client_credentials"),
        "token basic with scope": Call("POST", "/token", {**FORM, **good_basic},
                                       "grant_type=client_credentials&scope=signature.verify"),
        "token post": Call("POST", "/token", FORM, f"grant_type=client_credentials&{post_creds}"),
        "token wrong secret": Call("POST", "/token", {**FORM, **basic(w["basic_id"], "wrong")},
                                   "grant_type=client_credentials"),
        "token unknown client": Call("POST", "/token", {**FORM, **basic("nobody", "x" * 20)},
                                     "grant_type=client_credentials"),
        "token no credentials": Call("POST", "/token", FORM, "grant_type=client_credentials"),
        "token post client using basic": Call(
            "POST", "/token", {**FORM, **basic(w["post_id"], w["post_secret"])},
            "grant_type=client_credentials"),
        "token basic client using post": Call(
            "POST", "/token", FORM, "grant_type=client_credentials"
            f"&client_id={w['basic_id']}&client_secret={w['basic_secret']}"),
        "token repeated grant_type": Call("POST", "/token", {**FORM, **good_basic},
                                          "grant_type=client_credentials&grant_type=client_credentials"),
        "token repeated scope": Call("POST", "/token", {**FORM, **good_basic},
                                     "grant_type=client_credentials&scope=openid&scope=openid"),
        "token refused scope": Call("POST", "/token", {**FORM, **good_basic},
                                    "grant_type=client_credentials&scope=admin"),
        "token other grant": Call("POST", "/token", {**FORM, **good_basic}, "grant_type=password"),
        "introspect own token": Call("POST", "/introspect", {**FORM, **good_basic},
                                     f"token={w['basic_token']}"),
        "introspect with access_token hint": Call(
            "POST", "/introspect", {**FORM, **good_basic},
            f"token={w['basic_token']}&token_type_hint=access_token"),
        "introspect with refresh_token hint": Call(
            "POST", "/introspect", {**FORM, **good_basic},
            f"token={w['basic_token']}&token_type_hint=refresh_token"),
        "introspect with unknown hint": Call(
            "POST", "/introspect", {**FORM, **good_basic},
            f"token={w['basic_token']}&token_type_hint=id_token"),
        "introspect post": Call("POST", "/introspect", FORM, f"token={w['post_token']}&{post_creds}"),
        "introspect another client's token": Call("POST", "/introspect", {**FORM, **good_basic},
                                                  f"token={w['post_token']}"),
        "introspect unknown JWT": Call("POST", "/introspect", {**FORM, **good_basic},
                                       "token=eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln"),
        "introspect unknown opaque token": Call("POST", "/introspect", {**FORM, **good_basic},
                                                "token=not-a-token-we-issued"),
        "introspect wrong secret": Call("POST", "/introspect", {**FORM, **basic(w["basic_id"], "wrong")},
                                        f"token={w['basic_token']}"),
        "introspect wrong method": Call(
            "POST", "/introspect", FORM,
            f"token={w['basic_token']}&client_id={w['basic_id']}&client_secret={w['basic_secret']}"),
        "introspect two methods": Call("POST", "/introspect", {**FORM, **good_basic},
                                       f"token={w['basic_token']}&client_id={w['basic_id']}"),
        "introspect repeated token": Call("POST", "/introspect", {**FORM, **good_basic},
                                          f"token={w['basic_token']}&token={w['basic_token']}"),
        "introspect no token": Call("POST", "/introspect", {**FORM, **good_basic}, "token_type_hint=x"),
    }
    return calls


CASES = sorted(_calls({"basic_id": "", "basic_secret": "", "post_id": "", "post_secret": "",
                       "basic_token": "", "post_token": "",
                       "etags": {DISCOVERY: "", AS_METADATA: "", JWKS: ""}}))


def _send(app, call: Call):
    return app.test_client().open(call.path, method=call.method, headers=call.headers, data=call.data)


def _part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _token_shape(body: bytes) -> dict:
    """A token answer without what differs between two tokens."""
    answer = json.loads(body)
    token = answer.pop("access_token")
    claims = _part(token, 1)
    lifetime = claims.pop("exp") - claims.pop("iat")
    claims.pop("jti")
    return {"answer": answer, "header": _part(token, 0), "claims": claims, "lifetime": lifetime,
            "key order": list(json.loads(body)), "length": len(body)}


@pytest.mark.parametrize("case", CASES)
def test_the_fast_path_and_the_flask_path_give_the_same_answer(apps, world, case):
    fast_app, flask_app = apps
    call = _calls(world)[case]
    fast, flask = _send(fast_app, call), _send(flask_app, call)
    assert fast.status == flask.status, (fast.data, flask.data)
    fast_headers = [(k, v) for k, v in fast.headers.items() if k != "Date"]
    flask_headers = [(k, v) for k, v in flask.headers.items() if k != "Date"]
    if call.path == "/token" and fast.status_code == 200:
        assert _token_shape(fast.data) == _token_shape(flask.data)
        fast_headers = [(k, v) for k, v in fast_headers if k != "Content-Length"]
        flask_headers = [(k, v) for k, v in flask_headers if k != "Content-Length"]
    else:
        assert fast.data == flask.data
    assert sorted(fast_headers) == sorted(flask_headers)


@pytest.mark.multiprocess
def test_two_granian_servers_on_one_database_one_without_the_fast_path_answer_the_same(
        environ, tmp_path):
    """Two nodes as the image runs them (granian, WSGI), one with ``IDP_FAST_PATH=off``: the
    same document bytes and headers, the same token and introspection answers; and the node
    without the fast path still runs its background threads (its purge, started by its first
    request, purges an expired row and records itself in the audit log)."""
    assert run_idp(["db", "upgrade"], environ).returncode == 0
    setup = create_app(environ)
    client_id, secret = register(setup, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid signature.verify")
    with setup.app_context():  # something for a purge to do: an expired assertion jti
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client_id))
        db.session.add(UsedClientAssertion(client_pk=client_pk, jti_digest="0" * 64,
                                           expires_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    bases = {}
    with ExitStack() as stack:
        for mode in ("on", "off"):
            port = free_port()
            env = {**environ, "IDP_FAST_PATH": mode, "IDP_PURGE_INTERVAL": "1" if mode == "off" else "0",
                   "GRANIAN_INTERFACE": "wsgi", "GRANIAN_HOST": "127.0.0.1", "GRANIAN_PORT": str(port)}
            log = stack.enter_context((tmp_path / f"granian-{mode}.log").open("w"))
            server = subprocess.Popen([GRANIAN, "--factory", "--workers", "1", "idp:create_app"],
                                      env=idp_env(env), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(server.wait, timeout=30)
            stack.callback(server.terminate)
            bases[mode] = f"http://127.0.0.1:{port}"
            wait_for(f"{bases[mode]}/readyz", process=server, timeout=60)

        def both(method: str, path: str, **kwargs) -> tuple[httpx.Response, httpx.Response]:
            fast, flask = (httpx.request(method, bases[mode] + path, **kwargs) for mode in ("on", "off"))
            assert fast.status_code == flask.status_code, (path, fast.text, flask.text)
            return fast, flask

        def headers(response: httpx.Response, *ignored: str) -> list[tuple[str, str]]:
            return sorted((k, v) for k, v in response.headers.items() if k not in ("date", *ignored))

        for path in (DISCOVERY, AS_METADATA, JWKS):
            fast, flask = both("GET", path)
            assert fast.status_code == 200 and fast.content == flask.content
            assert headers(fast) == headers(flask)
            weak = {"If-None-Match": f"W/{fast.headers['etag']}"}
            fast, flask = both("GET", path, headers=weak)
            assert fast.status_code == 304 and headers(fast) == headers(flask)

        auth = httpx.BasicAuth(client_id, secret)
        form = {"grant_type": "client_credentials", "scope": "signature.verify"}
        fast, flask = both("POST", "/token", data=form, auth=auth)
        assert fast.status_code == 200
        assert _token_shape(fast.content) == _token_shape(flask.content)
        assert headers(fast, "content-length") == headers(flask, "content-length")
        token = fast.json()["access_token"]
        fast, flask = both("POST", "/introspect", data={"token": token}, auth=auth)
        assert fast.json()["active"] is True and fast.content == flask.content
        assert headers(fast) == headers(flask)
        fast, flask = both("POST", "/introspect", data={"token": "unknown"}, auth=auth)
        assert fast.json() == {"active": False} and fast.content == flask.content

        deadline = time.monotonic() + 20
        with setup.app_context():
            while time.monotonic() < deadline:
                purges = db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(
                    AuditEvent.action == "maintenance.purge"))
                db.session.remove()
                if purges:
                    break
                time.sleep(0.3)
            assert purges == 1, "the purge thread of the node without the fast path ran"
    with setup.app_context():
        db.engine.dispose()
