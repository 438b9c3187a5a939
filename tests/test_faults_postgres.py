"""PostgreSQL restarts under load: two idp nodes on a PostgreSQL this test starts itself
(``initdb`` in a temporary folder, never the shared server), a steady load of sign-ins and
token requests, and the database stopped and started again. Every answer is 2xx/3xx or 503
with Retry-After (never a 500 or a broken connection); the pools recover by themselves (no
idp restart); afterwards every flow works and ``idp audit verify`` finds the chain intact: no
half-written state (each token with its audit event, in one transaction)."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.factories import AN, NGOC, PHUC
from tests.faults_support import PostgresServer, Tally
from tests.helpers import run_idp
from tests.load_support import EXPECTED, LoadThread
from tests.multinode import start_cluster

pytestmark = pytest.mark.multiprocess


def _half_written_state(url: str) -> dict[str, int]:
    """Rows a transaction cut in the middle would have left (nothing is purged in this test)."""
    queries = {
        "codes without a session": "SELECT count(*) FROM authorization_codes WHERE session_id IS NULL",
        "redeemed codes without a refresh family":
            "SELECT count(*) FROM authorization_codes WHERE used_at IS NOT NULL AND family_id IS NULL",
        "live families without exactly one current token":
            "SELECT count(*) FROM refresh_token_families f WHERE f.revoked_at IS NULL AND (SELECT count(*) "
            "FROM refresh_tokens t WHERE t.family_id = f.id AND t.rotated_at IS NULL) <> 1",
    }
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {name: connection.execute(sa.text(sql)).scalar() for name, sql in queries.items()}
    finally:
        engine.dispose()


def test_a_postgresql_restart_under_load_answers_only_2xx_3xx_or_503_and_recovers(
        environ, database_url, tmp_path):
    if not database_url.startswith("sqlite"):
        pytest.skip("runs once, on a PostgreSQL of its own (the sqlite variant of the fixture)")
    server = PostgresServer()
    server.init()
    server.start()
    cluster = None
    try:
        cluster = start_cluster({**environ, "IDP_DATABASE_URL": server.url,
                                 "IDP_LOGIN_RATE_LIMIT": "100000/minute"},
                                tmp_path, [AN, NGOC, PHUC])
        urls = itertools.cycle([node.url for node in cluster.nodes])
        phase = ["before"]
        tally = Tally()
        threads = [LoadThread(cluster, person["identifier"], tally, lambda: phase[0], lambda: next(urls))
                   for person in (AN, NGOC, PHUC)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 90
        while min(len(t.rounds_ok) for t in threads) < 2:
            assert time.monotonic() < deadline and not any(t.failures for t in threads), \
                [t.failures for t in threads]
            time.sleep(0.1)

        phase[0] = "restart"
        stopped_at = time.monotonic()
        server.stop("fast")  # every connection is cut, as in a restart or a fail-over
        time.sleep(3)
        for node in cluster.nodes:  # out of the balancer while the source of truth is away
            assert httpx.get(f"{node.url}/readyz", timeout=10).status_code == 503
        server.start()
        started_at = time.monotonic()
        phase[0] = "after"
        deadline = started_at + 60
        while not all(any(t_ok > started_at for t_ok in t.rounds_ok) for t in threads):
            assert time.monotonic() < deadline, [t.failures for t in threads]
            time.sleep(0.05)
        recovered = max(min(t_ok for t_ok in t.rounds_ok if t_ok > started_at) for t in threads)
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for node in cluster.nodes:
            assert httpx.get(f"{node.url}/readyz", timeout=10).status_code == 200
        verified = run_idp(["audit", "verify"], cluster.env)
        half_written = _half_written_state(server.url)
    finally:
        if cluster is not None:
            for node in cluster.nodes:
                node.stop()
        server.remove()

    assert [t.failures for t in threads] == [[], [], []]
    during = tally.by_phase.get("restart", {})
    assert set(during) <= EXPECTED | {503}, during
    assert 503 in during, "the restart was not seen by the load"
    assert verified.returncode == 0, verified.stderr
    assert half_written == {"codes without a session": 0, "redeemed codes without a refresh family": 0,
                            "live families without exactly one current token": 0}, half_written
    for name in "AB":
        log = (tmp_path / f"node-{name}.log").read_text()
        assert " 500 " not in log and "unhandled error" not in log, log[-3000:]
    print(f"\npostgresql restart: {tally.report()}; database down {started_at - stopped_at:.1f} s; "
          f"every load thread through a whole round {recovered - started_at:.1f} s after it was back; "
          f"{verified.stdout.splitlines()[0]}")
