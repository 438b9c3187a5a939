"""Two idp nodes sharing one PostgreSQL and Redis: any node serves any step of a flow, and a
security decision taken through one node holds on the other at once (no node-local state).

Skipped without IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL (CI sets both)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from idp.db import db
from idp.oidc.clients.registry import set_enabled
from idp.oidc.models import Client
from tests.factories import AN
from tests.multinode import Browser, Cluster, needs_shared_stores, redeem, start_cluster, token_request

pytestmark = [needs_shared_stores, pytest.mark.multiprocess]


@pytest.fixture
def cluster(environ, tmp_path) -> Iterator[Cluster]:
    cluster = start_cluster(environ, tmp_path, [AN])
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()


def test_authorized_on_node_a_redeemed_and_refreshed_on_node_b(cluster):
    a, b = cluster.nodes
    browser = Browser()
    try:
        params, verifier, consent_shown = browser.sign_in(a, cluster.client_id, AN["identifier"])
    finally:
        browser.close()
    assert consent_shown and params["iss"] == cluster.issuer
    tokens = redeem(b, cluster, params["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert {"access_token", "id_token", "refresh_token"} <= set(body)
    refreshed = token_request(b, cluster.client_id, cluster.secret, grant_type="refresh_token",
                              refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    userinfo = httpx.get(f"{a.url}/userinfo", headers=bearer)
    assert userinfo.status_code == 200 and userinfo.json()["name"] == AN["full_name"]
    # Rotation (RFC 9700 §4.14.2): the old refresh token replayed on A is refused and revokes
    # the family, and node B refuses the family's access token at once.
    replay = token_request(a, cluster.client_id, cluster.secret, grant_type="refresh_token",
                           refresh_token=body["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert httpx.get(f"{b.url}/userinfo", headers=bearer).status_code == 401
    # The code is single-use on every node (RFC 6749 §4.1.2).
    assert redeem(a, cluster, params["code"], verifier).json()["error"] == "invalid_grant"


def test_a_client_disabled_through_node_a_is_refused_by_node_b_at_once(cluster):
    a, b = cluster.nodes
    browser = Browser()
    try:
        params, verifier, _ = browser.sign_in(a, cluster.client_id, AN["identifier"])
    finally:
        browser.close()
    tokens = redeem(b, cluster, params["code"], verifier).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{b.url}/userinfo", headers=bearer).status_code == 200
    introspect = {"token": tokens["access_token"]}
    before = httpx.post(f"{b.url}/introspect", data=introspect, auth=(cluster.client_id, cluster.secret))
    assert before.json()["active"] is True

    operator = cluster.app()  # node A's database: the operator disables the client there
    with operator.app_context():
        set_enabled(db.session.scalar(select(Client).where(Client.client_id == cluster.client_id)), False)
        db.session.commit()
        db.engine.dispose()

    # Node B, at once: no cache lets the disabled client through.
    assert httpx.get(f"{b.url}/userinfo", headers=bearer).status_code == 401
    refused = token_request(b, cluster.client_id, cluster.secret, grant_type="refresh_token",
                            refresh_token=tokens["refresh_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    own = httpx.post(f"{b.url}/introspect", data=introspect, auth=(cluster.client_id, cluster.secret))
    assert own.status_code == 401 and own.json()["error"] == "invalid_client"
    # A resource server asking about the disabled client's token learns it is not active.
    other = httpx.post(f"{b.url}/introspect", data=introspect,
                       auth=(cluster.resource_id, cluster.resource_secret))
    assert other.status_code == 200 and other.json() == {"active": False}
    first, _ = Browser().authorize(b, cluster.client_id)
    assert first.status_code == 400  # an unknown or disabled client is told to the citizen


def test_an_agency_back_end_disabled_through_node_a_gets_no_token_from_node_b(cluster):
    """client_credentials and introspection, which node B answers before Flask
    (idp.fastpath), read the client from the shared database on every request too."""
    a, b = cluster.nodes
    agency = (cluster.resource_id, cluster.resource_secret)
    issued = token_request(b, *agency, grant_type="client_credentials")
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    for _ in range(2):  # the second answer comes from the remembered signature
        seen = httpx.post(f"{b.url}/introspect", data={"token": token}, auth=agency)
        assert seen.json()["active"] is True

    operator = cluster.app()
    with operator.app_context():
        set_enabled(db.session.scalar(select(Client).where(Client.client_id == cluster.resource_id)), False)
        db.session.commit()
        db.engine.dispose()

    refused = token_request(b, *agency, grant_type="client_credentials")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    own = httpx.post(f"{b.url}/introspect", data={"token": token}, auth=agency)
    assert own.status_code == 401 and own.json()["error"] == "invalid_client"
    assert token_request(a, *agency, grant_type="client_credentials").status_code == 401


def test_a_session_ended_on_node_b_is_gone_on_node_a(cluster):
    a, b = cluster.nodes
    browser = Browser()
    try:
        browser.sign_in(a, cluster.client_id, AN["identifier"])
        # SSO works on either node.
        sso, _ = browser.authorize(b, cluster.client_id, prompt="none")
        assert sso.status_code == 302 and "code=" in sso.headers["Location"]
        account = browser.http.get(f"{b.url}/account")
        assert account.status_code == 200
        from tests.multinode import _csrf

        ended = browser.http.post(f"{b.url}/signout", data={"csrf_token": _csrf(account.text)})
        assert ended.status_code == 200
        # Even with the old cookie put back, node A finds no session.
        again, _ = browser.authorize(a, cluster.client_id, prompt="none")
        assert again.status_code == 302
        assert "error=login_required" in again.headers["Location"]
    finally:
        browser.close()
