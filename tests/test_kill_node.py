"""One of two nodes is killed (SIGKILL) under a steady load of sign-ins: the other keeps
answering, no citizen's session or consent is lost, and the only failed requests are the ones
in flight on the killed node, failing as broken connections.

The load: a few threads, each a citizen's browser signing in again and again through the whole
flow (authorize → /login → consent remembered → code → token), alternating nodes request by
request as a round-robin load balancer would. When a request to a node fails at the transport
level, the "balancer" (shared by the threads) takes that node out, and the thread retries the
whole sign-in on the node left.

Skipped without IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL (CI sets both)."""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import SAMPLE_REGISTRY
from tests.multinode import REDIRECT, Browser, Node, needs_shared_stores, start_cluster

pytestmark = [needs_shared_stores, pytest.mark.multiprocess]

THREADS = 4


@dataclass
class Failure:
    node: str
    started: float
    error: BaseException


class Balancer:
    """Round robin over the nodes still believed alive."""

    def __init__(self, nodes: list[Node]):
        self.alive = list(nodes)
        self.lock = threading.Lock()
        self.turn = 0
        self.removed_at: dict[str, float] = {}

    def pick(self) -> tuple[Node, float]:
        """The next node, and when it was picked: read under the lock that removal takes, so a
        request sent to a node picked before its removal is never dated after it (another
        thread may remove the node between this pick and the request going out)."""
        with self.lock:
            self.turn += 1
            return self.alive[self.turn % len(self.alive)], time.monotonic()

    def remove(self, node: Node) -> None:
        with self.lock:
            if node in self.alive:
                self.alive.remove(node)
                self.removed_at[node.name] = time.monotonic()


class RoutedBrowser(Browser):
    """A browser whose every request goes through the balancer (cookies are per host, so the
    session cookie follows it from node to node)."""

    def __init__(self, balancer: Balancer, failures: list[Failure], lock: threading.Lock):
        super().__init__()
        self.login_node = ""
        self.balancer, self.failures, self.lock = balancer, failures, lock
        send = self.http.send

        def routed(request, **kwargs):
            node, started = balancer.pick()
            request.url = request.url.copy_with(port=int(node.url.rsplit(":", 1)[1]))
            request.headers["Host"] = f"127.0.0.1:{request.url.port}"
            if request.method == "POST" and request.url.path == "/login":
                self.login_node = node.name
            try:
                return send(request, **kwargs)
            except httpx.TransportError as exc:
                with lock:
                    failures.append(Failure(node.name, started, exc))
                balancer.remove(node)
                raise

        self.http.send = routed


def _citizens(count: int) -> list[dict]:
    with open(SAMPLE_REGISTRY, encoding="utf-8-sig", newline="") as handle:
        return [{"identifier": row["identifier"]} for row in csv.DictReader(handle)][:count]


def check_no_session_lost(cluster, sessions: list[tuple[str, httpx.Cookies]]) -> None:
    """Every session alive at the kill (the cookie of every sign-in completed before it, some
    started by node B) is honoured by node A alone now: SSO with prompt=none."""
    a = cluster.nodes[0]
    assert "B" in {node for node, _ in sessions}, "no session was started by node B"
    survivor = Browser()
    try:
        for _node, cookies in sessions:
            survivor.http.cookies = cookies
            response, _ = survivor.authorize(a, cluster.client_id, prompt="none")
            assert response.status_code == 302 and "code=" in response.headers["Location"], (
                response.headers.get("Location"))
    finally:
        survivor.close()


def test_killing_a_node_under_sign_in_load_fails_only_its_requests_in_flight(environ, tmp_path):
    citizens = _citizens(THREADS)
    # All the load comes from 127.0.0.1: the per-address sign-in limit would be measured instead.
    cluster = start_cluster({**environ, "IDP_LOGIN_RATE_LIMIT": "100000/minute"}, tmp_path, citizens)
    a, b = cluster.nodes
    balancer = Balancer(cluster.nodes)
    failures: list[Failure] = []
    lock = threading.Lock()
    completed: dict[str, int] = {}
    browsers: dict[str, RoutedBrowser] = {}
    consent_after_first: list[str] = []
    unexpected: list[BaseException] = []
    stop = threading.Event()
    killed_at: list[float] = []
    sessions: list[tuple[str, httpx.Cookies]] = []  # every completed sign-in: (node, cookie)

    def citizen_loop(username: str) -> None:
        browser = browsers[username] = RoutedBrowser(balancer, failures, lock)
        # The entry URL names node A; the balancer decides where each request really goes.
        entry = Node("entry", a.url, a.process)
        while not stop.is_set():
            try:
                browser.http.cookies.clear()  # a fresh sign-in every time
                params, verifier, consent_shown = browser.sign_in(entry, cluster.client_id, username)
                if consent_shown and completed.get(username):
                    consent_after_first.append(username)
                tokens = browser.http.post(f"{a.url}/token", auth=(cluster.client_id, cluster.secret), data={
                    "grant_type": "authorization_code", "code": params["code"],
                    "redirect_uri": REDIRECT, "code_verifier": verifier})
                assert tokens.status_code == 200, tokens.text
                with lock:  # this sign-in's session: which node started it, and its cookie
                    sessions.append((browser.login_node, httpx.Cookies(browser.http.cookies)))
                completed[username] = completed.get(username, 0) + 1
            except httpx.TransportError:
                continue  # recorded by the browser or below; retried on the node left
            except BaseException as exc:  # reported after the threads stop
                unexpected.append(exc)
                return

    try:
        threads = [threading.Thread(target=citizen_loop, args=(c["identifier"],)) for c in citizens]
        for thread in threads:
            thread.start()
        # Steady state first: every citizen has signed in (and consented) on both nodes' watch,
        # and node B has started at least one of the sessions that must survive it.
        deadline = time.monotonic() + 120
        while min((completed.get(c["identifier"], 0) for c in citizens), default=0) < 2 or \
                "B" not in {node for node, _ in list(sessions)}:
            assert time.monotonic() < deadline and not unexpected, unexpected
            time.sleep(0.05)
        with lock:
            before_kill = dict(completed)
            sessions_at_kill = list(sessions)
            killed_at.append(time.monotonic())
            b.kill()
        # The load goes on against node A alone.
        deadline = time.monotonic() + 120
        while min(completed[c["identifier"]] - before_kill[c["identifier"]] for c in citizens) < 3:
            assert time.monotonic() < deadline and not unexpected, unexpected
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        check_no_session_lost(cluster, sessions_at_kill)
    finally:
        stop.set()
        for node in cluster.nodes:
            node.stop()
        for browser in browsers.values():
            browser.close()

    assert not unexpected, unexpected
    print("failures:", [(f.node, type(f.error).__name__) for f in failures])
    # The only failures: requests to the killed node, broken at the transport level, in flight
    # when it died or sent before the balancer took it out; at most one per citizen's thread
    # (each has one request in flight at a time, and none goes to B once it is out).
    assert all(f.node == "B" for f in failures), failures
    assert all(isinstance(f.error, httpx.TransportError) for f in failures)
    assert all(f.started <= balancer.removed_at["B"] for f in failures), failures
    assert 1 <= len(failures) <= THREADS, failures
    assert balancer.alive == [a]
    # No consent lost: after the first one, no citizen was asked again, on either node.
    assert consent_after_first == []
