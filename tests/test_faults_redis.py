"""Redis is not a single point of failure: two nodes sharing one PostgreSQL run on a Redis this
test starts, stops and restarts itself. During the outage sign-ins and token requests succeed,
account lockout is still enforced across both nodes (its counters go to the database), /readyz
stays 200 and says ``"redis": "degraded"``, /metrics and the log say so once; when Redis is
back the nodes use it again without a restart, and a lock taken during the outage holds.

NIST SP 800-63B §5.2.2 (limit failed authentication attempts per account) through the outage."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.conftest import PG_URL
from tests.factories import AN, NGOC, PASSWORD
from tests.faults_support import RedisServer, Tally
from tests.multinode import Browser, Node, _csrf, redeem, start_cluster, token_request

pytestmark = [pytest.mark.multiprocess,
              pytest.mark.skipif(not PG_URL, reason="two nodes share one PostgreSQL: set "
                                 "IDP_TEST_DATABASE_URL (CI does)")]


def password_attempt(node: Node, username: str, password: str) -> httpx.Response:
    """One POST /login from a fresh browser (its own CSRF token), as an attacker would."""
    with httpx.Client(timeout=30, headers={"Accept-Language": "en"}) as browser:
        page = browser.get(f"{node.url}/login")
        return browser.post(f"{node.url}/login", data={
            "csrf_token": _csrf(page.text), "username": username, "password": password})


def sign_in_and_tokens(cluster, first: Node, second: Node, tally: Tally, phase: str) -> None:
    """The whole flow on ``first`` (authorize, /login, consent, code), tokens from ``second``,
    a refresh on ``first``: every answer tallied."""
    browser = Browser()
    original = browser.http.send

    def counted(request, **kwargs):
        response = original(request, **kwargs)
        tally.add(phase, response.status_code)
        return response

    browser.http.send = counted
    try:
        params, verifier, _ = browser.sign_in(first, cluster.client_id, AN["identifier"])
    finally:
        browser.close()
    tokens = redeem(second, cluster, params["code"], verifier)
    tally.add(phase, tokens.status_code)
    assert tokens.status_code == 200, tokens.text
    refreshed = token_request(first, cluster.client_id, cluster.secret, grant_type="refresh_token",
                              refresh_token=tokens.json()["refresh_token"])
    tally.add(phase, refreshed.status_code)
    assert refreshed.status_code == 200, refreshed.text
    service = token_request(second, cluster.resource_id, cluster.resource_secret,
                            grant_type="client_credentials")
    tally.add(phase, service.status_code)
    assert service.status_code == 200, service.text


def readiness(node: Node) -> tuple[int, dict]:
    response = httpx.get(f"{node.url}/readyz", timeout=10)
    return response.status_code, response.json()["checks"]


def degraded_gauge(node: Node) -> float:
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    return float(re.search(r'^idp_degraded\{dependency="redis"\} (\S+)$', text, re.MULTILINE).group(1))


def test_sign_in_tokens_and_cross_node_lockout_survive_a_redis_outage(environ, tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    cluster = start_cluster({**environ, "IDP_LOGIN_MAX_FAILURES": "3", "IDP_REDIS_RETRY_SECONDS": "1",
                             "IDP_LOGIN_RATE_LIMIT": "100000/minute",
                             "IDP_LOGIN_RATE_LIMIT_FALLBACK": "1000/minute"},
                            tmp_path, [AN, NGOC], redis_url=redis_server.url)
    a, b = cluster.nodes
    tally = Tally()
    try:
        sign_in_and_tokens(cluster, a, b, tally, "before")
        assert readiness(a) == (200, {"database": "ok", "signing_key": "ok", "redis": "ok"})

        redis_server.stop()
        outage_started = time.monotonic()
        for first, second in ((a, b), (b, a), (a, b)):
            sign_in_and_tokens(cluster, first, second, tally, "redis down")
        for node in (a, b):
            assert readiness(node) == (200, {"database": "ok", "signing_key": "ok", "redis": "degraded"})
            assert degraded_gauge(node) == 1

        # Lockout across nodes: three wrong passwords spread over A and B lock the account
        # (IDP_LOGIN_MAX_FAILURES=3), and the right password is then refused on both nodes.
        wrong = [password_attempt(node, NGOC["identifier"], "not the password") for node in (a, b, a)]
        assert [r.status_code for r in wrong] == [422, 422, 429], [r.status_code for r in wrong]
        for node in (b, a):
            refused = password_attempt(node, NGOC["identifier"], PASSWORD)
            assert refused.status_code == 429 and "locked" in refused.text, refused.status_code
            tally.add("redis down", refused.status_code)
        outage_lasted = time.monotonic() - outage_started

        redis_server.start()
        back_at = time.monotonic()
        deadline = back_at + 30
        while not all(readiness(node)[1]["redis"] == "ok" for node in (a, b)):
            assert time.monotonic() < deadline, "the nodes did not go back to Redis"
            time.sleep(0.2)
        recovery = time.monotonic() - back_at
        sign_in_and_tokens(cluster, b, a, tally, "redis back")
        assert degraded_gauge(a) == 0 and degraded_gauge(b) == 0
        # The lock taken during the outage is not forgotten now that Redis is back.
        assert password_attempt(b, NGOC["identifier"], PASSWORD).status_code == 429
    finally:
        for node in cluster.nodes:
            node.stop()
        redis_server.stop()

    # One line per process for the outage and one for the recovery, not one per request.
    for name in "AB":
        log = (tmp_path / f"node-{name}.log").read_text()
        assert log.count("redis unavailable") == 1, log[-3000:]
        assert log.count("redis available again") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
    assert all(status < 400 or status == 429 for phase in tally.by_phase.values() for status in phase)
    print(f"\nredis outage: {tally.report()}; outage {outage_lasted:.1f} s; back to redis on both "
          f"nodes {recovery:.1f} s after it restarted")
