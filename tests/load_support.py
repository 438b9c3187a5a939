"""A steady load of sign-ins and token requests for the fault-injection tests: each thread is a
citizen's browser going through the whole flow (authorize → /login → consent → code → token →
refresh) plus an agency back-end's client_credentials request, over and over, every answer
tallied by status code. A 503 ends the current round (the citizen tries again); any other
answer outside the flow's expected ones, or a broken connection, is a failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urljoin

import httpx

from tests.factories import PASSWORD
from tests.faults_support import Tally
from tests.multinode import REDIRECT, Cluster, _csrf, _query
from tests.oidc_support import form_action, pkce_pair

#: What each answer may be when all is well.
EXPECTED = frozenset({200, 302, 303})


class Unavailable(Exception):
    """A 503: the round stops, the next one starts."""


class LoadThread(threading.Thread):
    def __init__(self, cluster: Cluster, username: str, tally: Tally, phase: Callable[[], str],
                 pick: Callable[[], str], transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(daemon=True)
        self.cluster, self.username, self.tally, self.phase, self.pick = cluster, username, tally, phase, pick
        self.http = httpx.Client(timeout=30, transport=transport)  # the citizen's browser
        self.api = httpx.Client(timeout=30, transport=transport)  # the relying party's back-end
        self.stop = threading.Event()
        self.rounds_ok: list[float] = []  # when each complete round ended (monotonic)
        self.failures: list[str] = []

    def _check(self, response: httpx.Response, expected: set[int]) -> httpx.Response:
        self.tally.add(self.phase(), response.status_code)
        if response.status_code == 503:
            assert response.headers.get("Retry-After"), response.headers
            raise Unavailable
        if response.status_code not in expected:
            self.failures.append(f"{response.request.method} {response.request.url.path}: "
                                 f"{response.status_code} {response.text[:200]}")
            raise Unavailable
        return response

    def one_round(self) -> None:
        c = self.cluster
        base = self.pick()
        self.http.cookies.clear()
        verifier, challenge = pkce_pair()
        login = self._check(self.http.get(f"{base}/authorize", params={  # the sign-in page
            "response_type": "code", "client_id": c.client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile", "state": "st", "code_challenge": challenge,
            "code_challenge_method": "S256"}), {200})
        form = {"csrf_token": _csrf(login.text), "username": self.username, "password": PASSWORD}
        posted = self._check(self.http.post(urljoin(self.pick(), form_action(login.text)), data=form), {303})
        back = posted  # consent remembered: the password's answer is the redirect to the client
        if not posted.headers["Location"].startswith(REDIRECT):
            back = self._check(self.http.get(urljoin(self.pick(), posted.headers["Location"])), {200, 302})
        if back.status_code == 200:  # the consent page, the first time only
            decision = {"csrf_token": _csrf(back.text), "decision": "allow"}
            back = self._check(self.http.post(urljoin(self.pick(), form_action(back.text)),
                                              data=decision), {302})
        code = _query(back.headers["Location"])["code"]
        tokens = self._check(self.api.post(f"{self.pick()}/token", auth=(c.client_id, c.secret),
                                        data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT, "code_verifier": verifier}), {200})
        self._check(self.api.post(f"{self.pick()}/token", auth=(c.client_id, c.secret), data={
            "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}), {200})
        self._check(self.api.post(f"{self.pick()}/token", auth=(c.resource_id, c.resource_secret),
                                  data={"grant_type": "client_credentials"}), {200})

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.one_round()
                self.rounds_ok.append(time.monotonic())
            except Unavailable:
                time.sleep(0.2)
            except httpx.TransportError as exc:
                self.tally.add(self.phase(), type(exc).__name__)
                self.failures.append(f"transport: {type(exc).__name__}")
                time.sleep(0.2)
        self.http.close()
        self.api.close()
