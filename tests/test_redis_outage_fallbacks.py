"""Each fallback of a node whose Redis is down (a closed port: every call refused), through the
app over HTTP: sign-in works; the per-account lockout is counted in the database, so two nodes
on one database enforce it together (NIST SP 800-63B §5.2.2); the per-address limit falls back
to the stricter per-process IDP_LOGIN_RATE_LIMIT_FALLBACK; the ``jti`` of a client assertion
is still single-use (RFC 7523 §3 item 7): the replay cache never fails open."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc.jwk import RSAKey
from sqlalchemy import select

from idp import create_app
from idp.auth.models import LoginFailureCounter
from idp.db import db
from tests.factories import PASSWORD, load_registry, make_citizen, sign_in
from tests.helpers import free_port
from tests.oidc_support import ISSUER, register


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "IDP_LOGIN_MAX_FAILURES": "3", "IDP_LOGIN_RATE_LIMIT_FALLBACK": "6/minute"}


@pytest.fixture
def citizen(app) -> int:
    load_registry(app)
    return make_citizen(app)


@pytest.fixture
def second_node(app, environ):
    """Another app on the same database and the same (unreachable) Redis: a second node."""
    other = create_app(environ)
    other.config["TESTING"] = True
    yield other
    with other.app_context():
        db.engine.dispose()


def test_sign_in_works_while_redis_is_down(citizen, client):
    assert sign_in(client).status_code == 303
    assert client.get("/readyz").get_json()["checks"]["redis"] == "degraded"


def test_lockout_is_counted_in_the_database_and_holds_on_every_node(app, citizen, client, second_node):
    other = second_node.test_client()
    statuses = [sign_in(c, password="wrong password").status_code for c in (client, other, client)]
    assert statuses == [422, 422, 429]
    refused = sign_in(other, password=PASSWORD)
    assert refused.status_code == 429 and "locked" in refused.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(select(LoginFailureCounter)).all()
    assert [row.failures for row in rows] == [3]


def test_the_per_address_limit_falls_back_to_the_stricter_per_process_one(citizen, client):
    # IDP_LOGIN_RATE_LIMIT (20/minute) would allow these; the fallback (6/minute) does not.
    statuses = [sign_in(client, username=f"0010858882{n:02d}", password="x" * 12).status_code
                for n in range(7)]
    assert statuses[:6] == [422] * 6 and statuses[6] == 429


def test_a_client_assertion_replay_is_refused_while_redis_is_down(app, client):
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-1"})
    client_id, _ = register(app, client_id="agency-jwt", token_endpoint_auth_method="private_key_jwt",
                            jwks={"keys": [key.as_dict(private=False)]}, grant_types=["client_credentials"],
                            redirect_uris=[])
    assertion = private_key_jwt_sign(key, client_id=client_id, token_endpoint=f"{ISSUER}/token", alg="RS256")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert client.post("/token", data=form).status_code == 200
    replay = client.post("/token", data=form)
    assert (replay.status_code, replay.get_json()["error"]) == (400, "invalid_client")

