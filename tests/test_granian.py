"""The production entry the Dockerfile runs: granian's WSGI server with the app factory,
configured by the same GRANIAN_* variables, several workers, metrics summed over all of them
(prometheus-client multiprocess mode) including the documents answered before Flask."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, idp_env, run_idp, wait_for
from tests.test_metrics import sample

ROOT = Path(__file__).resolve().parents[1]
GRANIAN = str(Path(sys.executable).with_name("granian"))

pytestmark = [pytest.mark.multiprocess, pytest.mark.one_database]  # granian's workers, not the database


def _dockerfile_env() -> dict[str, str]:
    """The GRANIAN_* settings of the Dockerfile, so this test runs what the image runs."""
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"(GRANIAN_[A-Z_]+)=(\S+)", text))


def test_the_dockerfiles_granian_serves_with_two_workers_and_summed_metrics(environ, tmp_path):
    prom = tmp_path / "prometheus"
    prom.mkdir()
    port = free_port()
    env = {**environ, **_dockerfile_env(), "GRANIAN_HOST": "127.0.0.1", "GRANIAN_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    assert env["GRANIAN_INTERFACE"] == "wsgi"
    assert run_idp(["db", "upgrade"], env).returncode == 0
    with (tmp_path / "granian.log").open("w") as out:
        server = subprocess.Popen([GRANIAN, "--factory", "--workers", "2", "idp:create_app"],
                                  env=idp_env(env), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz", process=server, timeout=60)
        assert httpx.get(f"{base}/readyz").json()["checks"]["signing_key"] == "ok"

        def hit(n):
            with httpx.Client() as client:  # a connection per caller: spread over workers
                return client.get(f"{base}/.well-known/jwks.json").status_code

        # The second worker may still be starting when the first answers /readyz (a loaded
        # machine): keep calling, 40 at a time, until both have served or 30 s have passed.
        served, deadline = 0, time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:
            while True:
                assert set(pool.map(hit, range(40))) == {200}
                served += 40
                workers = {p.name for p in prom.glob("counter_*.db")}
                if len(workers) == 2 or time.monotonic() > deadline:
                    break
        assert len(workers) == 2, "both workers must have served"
        labels = {"endpoint": "keys.jwks", "method": "GET", "status": "200"}
        for _ in range(4):  # whichever worker answers the scrape reports both workers' counts
            assert sample(httpx.get(f"{base}/metrics").text, "idp_http_requests_total", **labels) == served
    finally:
        server.terminate()
        server.wait(timeout=30)
