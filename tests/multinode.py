"""Two real idp nodes on loopback ports sharing one PostgreSQL and one Redis, as behind a load
balancer (same IDP_ISSUER, same IDP_SECRET_KEY); and a citizen's browser that follows the
real pages (authorize → /login → consent → code). Used by test_multinode and test_kill_node."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from idp import create_app
from idp.db import db
from tests.conftest import PG_URL, REDIS_URL
from tests.factories import PASSWORD, SAMPLE_REGISTRY, make_citizen
from tests.helpers import IDP, free_port, idp_env, run_idp, wait_for
from tests.oidc_support import form_action, pkce_pair, register

REDIRECT = "https://portal.example.gov.vn/callback"

needs_shared_stores = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="several nodes need a shared PostgreSQL and Redis: set IDP_TEST_DATABASE_URL and "
           "IDP_TEST_REDIS_URL (CI does)")


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL the whole node (gunicorn's master and its worker): no goodbye."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class Cluster:
    env: dict[str, str]
    issuer: str
    nodes: list[Node]
    client_id: str
    secret: str
    resource_id: str
    resource_secret: str
    usernames: list[str] = field(default_factory=list)

    def app(self):
        """An app on the shared database, standing for an operator working on node A."""
        return create_app(self.env)


def start_cluster(environ: dict[str, str], tmp_path: Path, citizens: list[dict], *,
                  redis_url: str | None = None) -> Cluster:
    """Two nodes on ``environ``'s PostgreSQL and on Redis at ``redis_url`` (default: the shared
    IDP_TEST_REDIS_URL; a fault-injection test passes the Redis it started itself)."""
    if not environ["IDP_DATABASE_URL"].startswith("postgresql"):
        pytest.skip("nodes share one PostgreSQL; the SQLite variant is one host's file")
    ports = [free_port(), free_port()]
    issuer = f"http://127.0.0.1:{ports[0]}"
    env = {**environ, "IDP_ISSUER": issuer, "IDP_REDIS_URL": redis_url or REDIS_URL,
           "IDP_REDIS_PREFIX": f"t_{uuid.uuid4().hex[:12]}:", "IDP_PURGE_INTERVAL": "0"}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    app = create_app(env)
    usernames = []
    for person in citizens:
        make_citizen(app, person, email=None)
        usernames.append(person["identifier"])
    client_id, secret = register(app, name="Cổng dịch vụ công quốc gia", redirect_uris=[REDIRECT],
                                 scope="openid profile",
                                 grant_types=["authorization_code", "refresh_token"])
    resource_id, resource_secret = register(app, name="Kho dữ liệu", redirect_uris=[],
                                            scope="openid", grant_types=["client_credentials"])
    with app.app_context():
        db.engine.dispose()
    nodes = []
    for name, port in zip("AB", ports, strict=True):
        log = open(tmp_path / f"node-{name}.log", "wb")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen([IDP, "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
                                   env=idp_env(env), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        nodes.append(Node(name, f"http://127.0.0.1:{port}", process))
    for node in nodes:
        wait_for(f"{node.url}/readyz", process=node.process, timeout=60)
    return Cluster(env, issuer, nodes, client_id, secret, resource_id, resource_secret, usernames)


# -- a citizen's browser and a relying party -------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    """One citizen's browser. Cookies are per host, not per port (RFC 6265 §8.5), so a cookie
    set by one node is sent to the other, as it would be behind one load-balanced name."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=60)  # a loaded CI machine must not look like a dead node

    def close(self) -> None:
        self.http.close()

    def authorize(self, node: Node, client_id: str, **extra: str) -> tuple[httpx.Response, str]:
        verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                  "scope": "openid profile", "state": "st", "code_challenge": challenge,
                  "code_challenge_method": "S256", **extra}
        return self.http.get(f"{node.url}/authorize", params=params), verifier

    def sign_in(self, node: Node, client_id: str, username: str) -> tuple[dict[str, str], str, bool]:
        """The whole flow on ``node``: returns the redirect's parameters, the PKCE verifier and
        whether a consent page was shown."""
        login, verifier = self.authorize(node, client_id)  # answered with the sign-in page
        assert login.status_code == 200, login.text[:300]
        posted = self.http.post(urljoin(node.url, form_action(login.text)), data={
            "csrf_token": _csrf(login.text), "username": username, "password": PASSWORD})
        assert posted.status_code == 303, posted.text[:300]
        back = posted  # consent remembered: the password's answer is the redirect to the client
        if not posted.headers["Location"].startswith(REDIRECT):
            back = self.http.get(urljoin(node.url, posted.headers["Location"]))
        consent_shown = back.status_code == 200 and 'value="allow"' in back.text
        if consent_shown:
            back = self.http.post(urljoin(node.url, form_action(back.text)),
                                  data={"csrf_token": _csrf(back.text), "decision": "allow"})
        assert back.status_code in (302, 303), back.text[:300]
        assert back.headers["Location"].startswith(REDIRECT), back.text[:300]
        return _query(back.headers["Location"]), verifier, consent_shown


def token_request(node: Node, client_id: str, secret: str, **data: str) -> httpx.Response:
    return httpx.post(f"{node.url}/token", data=data, auth=(client_id, secret), timeout=20)


def redeem(node: Node, cluster: Cluster, code: str, verifier: str) -> httpx.Response:
    return token_request(node, cluster.client_id, cluster.secret, grant_type="authorization_code",
                         code=code, redirect_uri=REDIRECT, code_verifier=verifier)
