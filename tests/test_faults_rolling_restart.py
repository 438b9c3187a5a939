"""A rolling restart of two nodes under a steady load of sign-ins and token requests loses no
request. Each node in turn gets SIGTERM, drains (``/readyz`` 503 ``draining`` while it still
serves; idp.resilience.drain), stops accepting, finishes its requests in flight and exits; a
new process takes its port and the balancer puts it back once ``/readyz`` is 200.

The balancer is what a real one does: it sends each request to a node its health checks (every
100 ms) find ready, round robin, over a fresh connection, and retries a refused connection on
another node (the request was never sent, so that is safe for a POST). Every other error, and
every answer outside the flow's expected ones, is a failed request: there must be none."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.factories import AN, NGOC, PHUC
from tests.faults_support import Tally
from tests.helpers import IDP, idp_env, wait_for
from tests.load_support import LoadThread
from tests.multinode import Node, start_cluster

pytestmark = pytest.mark.multiprocess

DRAIN_SECONDS = 2


class Balancer(httpx.BaseTransport):
    """Round robin over the nodes its health checks find ready; a refused connection is retried
    on another node."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.ready: set[str] = {node.url for node in nodes}
        self.lock = threading.Lock()
        self.turn = itertools.count()
        self.retried_refusals = 0
        self.broken: list[str] = []
        self.stop = threading.Event()
        self.transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        self.checker = threading.Thread(target=self._check, daemon=True)
        self.checker.start()

    def _check(self) -> None:
        with httpx.Client(timeout=1) as probe:
            while not self.stop.is_set():
                for node in list(self.nodes):
                    try:
                        up = probe.get(f"{node.url}/readyz").status_code == 200
                    except httpx.TransportError:
                        up = False
                    with self.lock:
                        (self.ready.add if up else self.ready.discard)(node.url)
                time.sleep(0.1)

    def _pick(self) -> str:
        deadline = time.monotonic() + 30
        while True:
            with self.lock:
                ready = sorted(self.ready)
            if ready:
                return ready[next(self.turn) % len(ready)]
            assert time.monotonic() < deadline, "no node ready for 30 s"
            time.sleep(0.05)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _attempt in range(20):
            target = httpx.URL(self._pick())
            request.url = request.url.copy_with(port=target.port)
            request.headers["Host"] = f"127.0.0.1:{target.port}"
            try:
                return self.transport.handle_request(request)
            except httpx.ConnectError:
                with self.lock:
                    self.retried_refusals += 1
                    self.ready.discard(str(target).rstrip("/"))
                time.sleep(0.05)
            except httpx.TransportError as exc:
                self.broken.append(f"{request.method} {request.url.path} on :{target.port}: {exc!r}")
                raise
        raise httpx.ConnectError("no node accepted the connection")

    def close(self) -> None:
        """Every load thread's clients share this transport: closing one of them must not
        close it under the others (see :meth:`shutdown`)."""

    def shutdown(self) -> None:
        self.stop.set()
        self.checker.join(timeout=5)
        self.transport.close()


def _restart(node: Node, env: dict[str, str], log_path) -> tuple[float, float]:
    """SIGTERM, wait for the exit, start a new process on the same port: (seconds to exit,
    seconds until ready again)."""
    started = time.monotonic()
    os.killpg(node.process.pid, signal.SIGTERM)
    node.process.wait(timeout=60)
    exited = time.monotonic()
    assert node.process.returncode == 0, node.process.returncode
    port = node.url.rsplit(":", 1)[1]
    with open(log_path, "ab") as log:
        node.process = subprocess.Popen([IDP, "serve", "--port", port, "--workers", "1", "--threads", "4"],
                                        env=idp_env(env), stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
    wait_for(f"{node.url}/readyz", process=node.process, timeout=60)
    return exited - started, time.monotonic() - exited


def test_a_rolling_sigterm_restart_of_two_nodes_under_load_fails_no_request(environ, tmp_path):
    cluster = start_cluster({**environ, "IDP_LOGIN_RATE_LIMIT": "100000/minute",
                             "IDP_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS)},
                            tmp_path, [AN, NGOC, PHUC])
    balancer = Balancer(cluster.nodes)
    phase = ["steady"]
    tally = Tally()
    entry = cluster.nodes[0].url  # the balancer decides where each request really goes
    threads = [LoadThread(cluster, person["identifier"], tally, lambda: phase[0], lambda: entry,
                          transport=balancer) for person in (AN, NGOC, PHUC)]
    timings = {}
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 90
        while min(len(t.rounds_ok) for t in threads) < 2:
            assert time.monotonic() < deadline and not any(t.failures for t in threads), \
                [t.failures for t in threads]
            time.sleep(0.1)
        for node in cluster.nodes:
            phase[0] = f"restarting {node.name}"
            timings[node.name] = _restart(node, cluster.env, tmp_path / f"node-{node.name}.log")
            done = {id(t): len(t.rounds_ok) for t in threads}
            deadline = time.monotonic() + 60
            while any(len(t.rounds_ok) <= done[id(t)] for t in threads):  # load went on meanwhile
                assert time.monotonic() < deadline, [t.failures for t in threads]
                time.sleep(0.1)
        phase[0] = "after"
        done = {id(t): len(t.rounds_ok) for t in threads}
        while any(len(t.rounds_ok) <= done[id(t)] for t in threads):
            time.sleep(0.1)
    finally:
        for thread in threads:
            thread.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        balancer.shutdown()
        for node in cluster.nodes:
            node.stop()

    print(f"\nrolling restart: {tally.report()}; refused connections retried by the balancer: "
          f"{balancer.retried_refusals}; " + "; ".join(
              f"node {name}: exited {down:.1f} s after SIGTERM, ready {up:.1f} s after restart"
              for name, (down, up) in timings.items()))
    logs = "".join((tmp_path / f"node-{name}.log").read_text()[-2000:] for name in "AB")
    assert [t.failures for t in threads] == [[], [], []], (balancer.broken, logs)
    statuses = {status for counts in tally.by_phase.values() for status in counts}
    assert statuses <= {200, 302, 303}, tally.report()
    assert all(tally.by_phase.get(f"restarting {name}") for name in "AB"), tally.report()
