"""Liveness and readiness probes: ``/readyz`` answers 503 as soon as the database cannot be
reached, so a load balancer takes the node out; Redis away only degrades the node (it serves on
its fallbacks) and keeps it in."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.db import db
from idp.health import add_check
from tests.conftest import REDIS_URL
from tests.helpers import free_port


@pytest.fixture
def make_client(environ):
    apps = []

    def make(check_database: bool = True, **settings):
        # Redis only where the test names it, so each test sees exactly the checks it expects.
        base = {k: v for k, v in environ.items() if k != "IDP_REDIS_URL"}
        application = create_app({**base, **settings}, check_database=check_database)
        apps.append(application)
        return application.test_client()

    yield make
    for application in apps:
        with application.app_context():
            db.engine.dispose()


def test_healthz_answers_200_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_the_database_reachable(client, environ):
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = {"database": "ok", "signing_key": "ok"} | (
        {"redis": "ok"} if environ.get("IDP_REDIS_URL") else {})
    assert response.get_json() == {"status": "ready", "checks": expected}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_when_the_database_is_unreachable(make_client):
    client = make_client(
        check_database=False,
        IDP_DATABASE_URL=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not ready", "checks": {
        "database": "unreachable", "signing_key": "not loaded (database)"}}


def test_readyz_stays_200_and_says_degraded_when_the_configured_redis_is_unreachable(app, make_client):
    client = make_client(IDP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready",
                                   "checks": {"database": "ok", "signing_key": "ok",
                                              "redis": "degraded"}}


@pytest.mark.skipif(not REDIS_URL, reason="IDP_TEST_REDIS_URL is not set")
def test_readyz_checks_a_reachable_redis(app, make_client):
    response = make_client(IDP_REDIS_URL=REDIS_URL).get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "signing_key": "ok", "redis": "ok"}


def test_a_package_can_add_its_own_readiness_check(app):
    add_check(app, "documents", lambda: "store offline")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["documents"] == "store offline"


def test_a_node_that_cannot_decrypt_the_fleets_signing_keys_is_not_ready(app, environ, make_client):
    # The first node makes the keys under its IDP_SECRET_KEY; a node started with another
    # secret cannot sign a token, so it must stay out of the load balancer.
    assert app.test_client().get("/readyz").status_code == 200
    base = {k: v for k, v in environ.items() if k != "IDP_REDIS_URL"}
    stranger = make_client(**{**base, "IDP_SECRET_KEY": "another-secret-" + "y" * 32})
    response = stranger.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "signing_key": "not loaded"}
