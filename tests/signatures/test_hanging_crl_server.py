"""A CRL distribution point that accepts the connection and never answers (the hanging
dependency): each verification that needs it answers within the fetch budget
(:data:`idp.signatures.revocation.FETCH_TIMEOUT`), refused as ``revocation_unavailable`` under
hard-fail, and the node's other endpoints keep their latency: ``/token`` is not queued behind
threads waiting on the CRL server (idp.resilience.bulkhead caps them per host).

A real server process (gunicorn, 1 worker, 4 threads, as ``idp serve`` runs by default)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from idp import create_app
from idp.db import db
from idp.signatures.revocation import FETCH_TIMEOUT
from tests.faults_support import SilentServer
from tests.helpers import free_port, run_idp, serving
from tests.signatures.conftest import agency_client

pytestmark = pytest.mark.multiprocess

DOCUMENT = b"%PDF-1.7\n" + "Quyết định số 15/QĐ-UBND\n".encode() * 200
CONCURRENT_VERIFICATIONS = 8


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def _token_latency(base: str, client_id: str, secret: str) -> float:
    started = time.perf_counter()
    response = httpx.post(f"{base}/token", auth=(client_id, secret), timeout=30,
                          data={"grant_type": "client_credentials", "scope": "signature.verify"})
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


@pytest.mark.one_database  # about threads, not the database
def test_a_hanging_crl_server_does_not_slow_the_token_endpoint(environ, tmp_path, silent, signer,
                                                               citizen_keys):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**environ, "IDP_ISSUER": base, "IDP_SIGNATURE_REVOCATION": "hard-fail",
           "IDP_SIGNATURE_CRL_SOURCES": f"{silent.url}/issuing-ca.crl"}
    assert run_idp(["db", "upgrade"], env).returncode == 0
    app = create_app(env)
    client_id, secret = agency_client(app)
    with app.app_context():
        db.engine.dispose()
    signature = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    log = tmp_path / "server.log"
    with serving(env, port, log):
        token = httpx.post(f"{base}/token", auth=(client_id, secret), timeout=30, data={
            "grant_type": "client_credentials", "scope": "signature.verify"}).json()["access_token"]
        baseline = [_token_latency(base, client_id, secret) for _ in range(10)]

        answers: list[tuple[int, float, dict]] = []

        def verify() -> None:
            started = time.perf_counter()
            response = httpx.post(f"{base}/api/signatures/verify", timeout=60,
                                  headers={"Authorization": f"Bearer {token}"},
                                  files={"signature": ("d.p7s", signature), "document": ("d.pdf", DOCUMENT)})
            answers.append((response.status_code, time.perf_counter() - started, response.json()))

        hanging = [threading.Thread(target=verify) for _ in range(CONCURRENT_VERIFICATIONS)]
        for thread in hanging:
            thread.start()
        deadline = time.monotonic() + FETCH_TIMEOUT
        while len(silent.connections) < 2:  # the verifications have reached the CRL server
            assert time.monotonic() < deadline, "no verification reached the CRL server"
            time.sleep(0.02)
        during = [_token_latency(base, client_id, secret) for _ in range(10)]
        for thread in hanging:
            thread.join(timeout=60)

    statuses = sorted({status for status, _, _ in answers})
    slowest_verification = max(elapsed for _, elapsed, _ in answers)
    print(f"\nhanging CRL server: {len(answers)} verifications answered {statuses}, slowest "
          f"{slowest_verification:.2f} s; /token median {statistics.median(baseline) * 1000:.0f} ms before, "
          f"max {max(during) * 1000:.0f} ms during (median {statistics.median(during) * 1000:.0f} ms)")
    # Every verification answered, within the fetch budget, refused for want of revocation data.
    assert len(answers) == CONCURRENT_VERIFICATIONS and statuses == [200]
    assert all(body["valid"] is False and [f["code"] for f in body["failures"]] == ["revocation_unavailable"]
               for _, _, body in answers), answers
    assert slowest_verification < FETCH_TIMEOUT + 3
    # /token was not queued behind them: no request waited anywhere near the CRL timeout.
    assert max(during) < 2.0, during  # a thread queued behind the CRL waits the whole 5 s
    assert "Traceback" not in log.read_text()
