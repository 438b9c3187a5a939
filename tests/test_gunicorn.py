"""The documented alternative production entry (the Dockerfile runs granian, README),
``gunicorn -c gunicorn.conf.py 'idp:create_app()'``: several workers, metrics summed over all
of them (prometheus-client multiprocess mode), access log without query strings, a bad setting
stopping the start in one line."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, idp_env, wait_for
from tests.test_metrics import sample

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

pytestmark = [pytest.mark.multiprocess, pytest.mark.one_database]  # gunicorn's workers, not the database


def _gunicorn(environ, port, *args, **kwargs):
    return subprocess.Popen(
        [GUNICORN, "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", *args,
         "idp:create_app()"], env=idp_env(environ), cwd=ROOT, **kwargs)


def test_metrics_are_summed_over_every_worker_in_multiprocess_mode(environ, tmp_path):
    prom = tmp_path / "prometheus"
    prom.mkdir()
    (prom / "counter_99999.db").write_bytes(b"left over by a previous run")
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = _gunicorn({**environ, "PROMETHEUS_MULTIPROC_DIR": str(prom)}, port,
                           "--workers", "2", "--threads", "2", stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", process=server)
        assert not (prom / "counter_99999.db").exists()  # on_starting emptied the folder

        labels = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
        with httpx.Client() as client:  # the wait_for probes (more than one on a slow machine)
            before = sample(client.get(f"{base}/metrics").text, "idp_http_requests_total", **labels)

        def hit(n):
            with httpx.Client() as client:  # a connection per caller: spread over workers
                return client.get(f"{base}/healthz", params={"login_hint": "079203001234"}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(hit, range(60))) == {200}
        workers_seen = {p.name.split("_")[1] for p in prom.glob("counter_*.db")}
        assert len(workers_seen) == 2, "the load did not reach both workers"
        for _ in range(6):  # whichever worker answers the scrape, it reports every worker's count
            with httpx.Client() as client:
                text = client.get(f"{base}/metrics").text
            assert sample(text, "idp_http_requests_total", **labels) == before + 60
    finally:
        server.terminate()
        server.wait(timeout=30)
    logged = log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in logged
    assert "079203001234" not in logged and "login_hint" not in logged


def test_a_malformed_setting_stops_gunicorn_with_one_line_naming_it(environ):
    server = _gunicorn({**environ, "IDP_ISSUER": "ftp://id"}, free_port(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = server.communicate(timeout=30)
    assert server.returncode == 2
    assert stderr.strip().splitlines() == [
        "idp: configuration error: IDP_ISSUER: must be an absolute http(s) URL such as "
        "https://id.example.gov (got 'ftp://id')"]
