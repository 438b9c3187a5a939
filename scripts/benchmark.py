"""The body of ``scripts/bench`` (run that: it installs wrk and the Python packages first).

Starts idp itself under granian (one worker pinned to core 0 with taskset), seeds its own
citizens and clients, then loads it from core 1 for a fixed time per scenario: wrk for the
single-request scenarios, a Python driver with several connections for the ones that chain
requests (refresh-token rotation, complete browser-less sign-ins). Prints a table and writes a
JSON file: requests/s, p50 and p99 latency, and non-2xx answers (which must be zero).

    scripts/bench                                  # SQLite in a temporary folder
    scripts/bench --database-url postgresql+psycopg://postgres@127.0.0.1/bench --duration 20
    scripts/bench --issuer https://peer.example --client-id ID --client-secret S   # another provider
    scripts/bench --duration 5 --scenario cc-es256 --scenario introspection   # some scenarios only
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REDIRECT = "https://rp.bench.example/callback"
PASSWORD = "bench: correct horse battery staple"  # noqa: S105 - the seeded citizens' password
SERVER_CORE, LOAD_CORE = "0", "1"
#: Seconds at the start of a driven scenario not counted in its rate (:class:`Driver`).
WARM_UP = 1.0
#: Tokens of the cold introspection scenario: more than the server's verified-signature memory.
COLD_TOKENS = 5000
#: What ``--scenario`` selects (all of them by default).
SCENARIOS = ("discovery", "jwks", "cc-es256", "cc-rs256", "introspection", "introspection-cold",
             "userinfo", "refresh", "signin")

# wrk's done() hook prints one JSON line the driver reads: rate, percentiles, non-2xx, errors.
WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""

WRK_POST = r"""
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
"""

# The bodies of a file, one per line, sent in order round and round (one wrk thread: one walk).
WRK_BODIES = r"""
local bodies, index = {}, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
request = function()
  index = index % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[index])
end
"""

WRK_BEARER = r"""
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# -- the server ------------------------------------------------------------------------------------


class Server:
    """idp under granian, its workers (one by default) on core 0, with its own seeded database."""

    def __init__(self, workdir: Path, database_url: str | None, access_token_alg: str, threads: int,
                 workers: int = 1):
        self.port = free_port()
        self.workers = workers
        self.issuer = f"http://127.0.0.1:{self.port}"
        instance = workdir / "instance"
        self.env = {
            **os.environ,
            "IDP_ISSUER": self.issuer,
            "IDP_INSTANCE_DIR": str(instance),
            "IDP_KEYS_DIR": str(workdir / "keys"),
            "IDP_SECRET_KEY": "bench-secret-key-" + "b" * 32,
            "IDP_DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "IDP_ACCESS_TOKEN_ALG": access_token_alg,
            # The bench measures the server, not the per-address sign-in limiter (all its
            # sign-ins come from 127.0.0.1); everything else keeps production defaults.
            "IDP_LOGIN_RATE_LIMIT": "1000000/minute",
            "IDP_LOG_LEVEL": "WARNING",
            "IDP_PURGE_INTERVAL": "0",
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.threads = threads
        self.process: subprocess.Popen | None = None
        self.log = workdir / f"server-{access_token_alg}.log"

    def idp(self, *args: str) -> None:
        subprocess.run([str(VENV_BIN / "idp"), *args], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def start(self) -> None:
        command = ["taskset", "-c", SERVER_CORE, str(VENV_BIN / "granian"), "--interface", "wsgi",
                   "--factory", "idp:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", str(self.workers), "--blocking-threads", str(self.threads), "--no-access-log",
                   "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log.open("wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        _wait_ready(self.process, f"{self.issuer}/readyz", self.log)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes (granian and its
        worker): divided by the requests served, the cost of one request whatever else the
        machine is doing, which the requests/s of a shared machine are not."""
        return _tree_cpu_seconds(self.process.pid)

    def database_cpu_seconds(self) -> float:
        """CPU time used so far by this machine's PostgreSQL processes (0 on SQLite, whose work
        is done inside the server's own processes): on PostgreSQL part of a request's cost is
        spent there, and a comparison with SQLite must count it."""
        if not self.env["IDP_DATABASE_URL"].startswith("postgresql"):
            return 0.0
        return _named_cpu_seconds("postgres")

    def stop(self) -> None:
        _stop(self.process)


SEED = r"""
import json, sys
from idp import create_app
from idp.accounts import services
from idp.citizens import registry
from idp.db import db
from idp.oidc.clients.registry import create_client

app = create_app()
with app.app_context():
    with open(sys.argv[1], encoding="utf-8-sig", newline="") as handle:
        result = registry.import_csv(handle, "vn-pin")
    db.session.commit()
    assert not result.errors, result.errors
    usernames = []
    import csv
    with open(sys.argv[1], encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[: int(sys.argv[2])]:
        entry = registry.lookup("vn-pin", row["identifier"])
        services.create_citizen_from_registry(entry, sys.argv[3])
        usernames.append(row["identifier"])
    db.session.commit()
    client, secret = create_client(
        name="Bench relying party", redirect_uris=[sys.argv[4]], scope="openid profile",
        grant_types=["authorization_code", "refresh_token", "client_credentials"])
    db.session.commit()
    print(json.dumps({"client_id": client.client_id, "secret": secret, "usernames": usernames}))
"""


def seed(server: Server, citizens: int) -> dict:
    server.idp("db", "upgrade")
    out = subprocess.run([str(VENV_BIN / "python"), "-c", SEED, str(ROOT / "scripts/demo_registry.csv"),
                          str(citizens), PASSWORD, REDIRECT], env=server.env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- load generators -------------------------------------------------------------------------------


def run_wrk(url: str, duration: int, connections: int, script: str, env: dict | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_REPORT)
    try:
        out = subprocess.run(["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}",
                              f"-d{duration}s", "--latency", "-s", handle.name, url],
                             env={**os.environ, **(env or {})}, capture_output=True, text=True,
                             check=True)
    finally:
        os.unlink(handle.name)
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    seconds = data["duration_us"] / 1e6
    return {"requests": data["requests"], "rps": data["requests"] / seconds,
            "p50_ms": data["p50_us"] / 1000, "p99_ms": data["p99_us"] / 1000,
            "non_2xx": data["non_2xx"], "errors": data["socket_errors"]}


def steady_rate(ends: list[float], window_from: float, stop_at: float) -> float:
    """Steps per second in the steady state, as wrk's and the floor's rates are counted: the
    steps that ended from ``window_from`` (:data:`WARM_UP` after the start) to ``stop_at``, over
    that window, while every thread was at work. Counted over the whole run, the threads
    starting and the last steps, which end after ``stop_at`` with fewer and fewer in flight (the
    server's core partly idle), would charge the server for the load generator's ramps: for
    sign-ins with 4 browsers, about 1.5 points of the argon2id floor."""
    return sum(window_from <= end <= stop_at for end in ends) / (stop_at - window_from)


class Driver:
    """Several threads, each with its own keep-alive connection, running ``step`` in a loop for
    ``duration`` seconds. ``step`` returns True for a success (every answer as expected).

    The rate is the steady state's (:func:`steady_rate`); ``rps_whole_run`` is every step over
    the whole run, ramps included. CPU per request is over every step."""

    def __init__(self, duration: int, connections: int):
        self.duration, self.connections = duration, connections

    def run(self, make_state, step) -> dict:
        latencies: list[float] = []
        ends: list[float] = []
        failures = [0]
        lock = threading.Lock()
        started = time.monotonic()
        stop_at = started + self.duration
        window_from = started + min(WARM_UP, self.duration / 4)

        def worker(index: int) -> None:
            state = make_state(index)
            mine: list[float] = []
            ended: list[float] = []
            bad = 0
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                try:
                    ok = step(state)
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - began)
                ended.append(time.monotonic())
                bad += not ok
            with lock:
                latencies.extend(mine)
                ends.extend(ended)
                failures[0] += bad

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        latencies.sort()
        count = len(latencies)
        return {"requests": count, "rps": steady_rate(ends, window_from, stop_at),
                "rps_whole_run": count / elapsed,  # ramps included, for comparison
                "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
                "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if latencies else 0.0,
                "non_2xx": failures[0], "errors": 0}


def pin_self_to_load_core() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})


# -- the flows -------------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _form_action(html: str) -> str:
    return html.split('<form method="post" action="')[1].split('"')[0].replace("&amp;", "&")


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _authorize_url(issuer: str, client_id: str) -> str:
    return f"{issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})


VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B


def _redeem(browser: httpx.Client, issuer: str, client: dict, code: str | None) -> dict | None:
    token = browser.post(f"{issuer}/token",
                         headers={"Authorization": basic(client["client_id"], client["secret"])},
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
    return token.json() if token.status_code == 200 else None


def sign_in_flow(browser: httpx.Client, issuer: str, client: dict, username: str) -> dict | None:
    """authorize (answered with the sign-in page, CSRF) → password, answered with the code
    (consent remembered; the first time, the consent page comes first) → token. Returns the
    token response, or None when any answer was not the expected one."""
    login = browser.get(_authorize_url(issuer, client["client_id"]))
    if login.status_code != 200:
        return None
    posted = browser.post(urljoin(issuer, _form_action(login.text)), data={
        "csrf_token": _csrf(login.text), "username": username, "password": PASSWORD})
    if posted.status_code != 303:
        return None
    back = posted
    if not posted.headers["Location"].startswith(REDIRECT):
        back = browser.get(urljoin(issuer, posted.headers["Location"]))
    if back.status_code == 200 and 'value="allow"' in back.text:  # first time: consent once
        back = browser.post(urljoin(issuer, _form_action(back.text)),
                            data={"csrf_token": _csrf(back.text), "decision": "allow"})
    if back.status_code not in (302, 303) or not back.headers["Location"].startswith(REDIRECT):
        return None
    return _redeem(browser, issuer, client, _query(back.headers["Location"]).get("code"))


def code_flow_with_session(browser: httpx.Client, issuer: str, client: dict) -> dict | None:
    """A further authorization in a signed-in browser: code and tokens, no password."""
    back = browser.get(_authorize_url(issuer, client["client_id"]))
    if back.status_code != 302 or not back.headers["Location"].startswith(REDIRECT):
        return None
    return _redeem(browser, issuer, client, _query(back.headers["Location"]).get("code"))


# -- scenarios -------------------------------------------------------------------------------------


def argon2_floor(env: dict, duration: int) -> dict:
    """argon2id verifications per second with the configured parameters on core 0 (the server
    there idle), run as idp runs them (:mod:`idp.auth.argon2_memory`)."""
    code = r"""
import sys, time
from argon2 import PasswordHasher, Type
from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.auth.password import lane_threads
from idp.config import load_settings
s = load_settings()
h = PasswordHasher(time_cost=s.argon2_time_cost, memory_cost=s.argon2_memory_cost,
                   parallelism=s.argon2_parallelism, type=Type.ID)
kept = KeptMemoryVerifier(h, lane_threads(s.argon2_max_concurrent))
stored = h.hash("x")
n, t0, c0, lat = 0, time.monotonic(), time.process_time(), []
while time.monotonic() - t0 < float(sys.argv[1]):
    a = time.perf_counter(); assert kept.verify(stored, "x"); lat.append(time.perf_counter() - a); n += 1
el = time.monotonic() - t0; cpu = (time.process_time() - c0) / n; lat.sort()
print(n, el, lat[len(lat)//2], lat[min(len(lat)-1, int(len(lat)*0.99))], cpu,
      s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism)
"""
    out = subprocess.run(["taskset", "-c", SERVER_CORE, str(VENV_BIN / "python"), "-c", code, str(duration)],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    n, elapsed, p50, p99, cpu = (int(out[0]), float(out[1]), float(out[2]), float(out[3]),
                                 float(out[4]))
    return {"requests": n, "rps": n / elapsed, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
            "non_2xx": 0, "errors": 0, "server_cpu_ms": cpu * 1000,
            "params": {"time_cost": int(out[5]), "memory_kib": int(out[6]), "parallelism": int(out[7])}}


def measured(target, run) -> dict:
    """``run()``'s result with ``target``'s CPU time per request (and PostgreSQL's, for idp on
    it): ``target`` is a :class:`Server` or the peer."""
    before, database_before = target.cpu_seconds(), target.database_cpu_seconds()
    result = run()
    requests = max(result["requests"], 1)
    result["server_cpu_ms"] = 1000 * (target.cpu_seconds() - before) / requests
    result["database_cpu_ms"] = 1000 * (target.database_cpu_seconds() - database_before) / requests
    return result


def rotated(sides: list[str], round_number: int) -> list[str]:
    """The sides in the order they run in this round: which goes first rotates every round,
    so that the machine's drift within a round favours none."""
    shift = round_number % len(sides)
    return sides[shift:] + sides[:shift]


class OwnSide:
    """idp on one database, seeded, started, and holding what the request scenarios present:
    a client, tokens from real sign-ins (every citizen has consented once, so the measured
    sign-ins find consent remembered), a pool of refresh tokens."""

    def __init__(self, args, workdir: Path, database_url: str | None, threads: int):
        workdir.mkdir()
        (workdir / "es256").mkdir()
        self.args, self.workdir = args, workdir
        self.server = Server(workdir / "es256", database_url, "ES256", threads, args.workers)
        seeded = seed(self.server, args.citizens)
        self.client = {"client_id": seeded["client_id"], "secret": seeded["secret"]}
        self.users = seeded["usernames"]
        self.auth = basic(self.client["client_id"], self.client["secret"])
        self.threads = threads

    def start(self) -> None:
        self.server.start()
        issuer, client = self.server.issuer, self.client
        with httpx.Client(timeout=30) as browser:
            first = sign_in_flow(browser, issuer, client, self.users[0])
            if first is None:
                raise SystemExit(f"the seeding sign-in failed; server log:\n{self.server.log.read_text()}")
            self.refresh_pool = [first["refresh_token"]]
            while len(self.refresh_pool) < self.args.connections:
                self.refresh_pool.append(code_flow_with_session(browser, issuer, client)["refresh_token"])
        for user in self.users[1:]:
            with httpx.Client(timeout=30) as browser:
                if sign_in_flow(browser, issuer, client, user) is None:
                    raise SystemExit("a seeding sign-in failed")
        self.access = first["access_token"]

    def stop(self) -> None:
        self.server.stop()

    def measured(self, run) -> dict:
        return measured(self.server, run)

    def wrk(self, path: str, script: str = "", env: dict | None = None) -> dict:
        args = self.args
        return self.measured(lambda: run_wrk(self.server.issuer + path, args.duration, args.connections,
                                             script, env))

    def run(self, scenario: str) -> dict[str, dict]:
        """One scenario, by its ``--scenario`` name; {table row name: result}."""
        args, issuer, auth = self.args, self.server.issuer, self.auth
        if scenario == "discovery":
            return {"discovery": self.wrk("/.well-known/openid-configuration")}
        if scenario == "jwks":
            return {"jwks": self.wrk("/.well-known/jwks.json")}
        if scenario == "cc-es256":
            return {"client_credentials ES256": self.wrk("/token", WRK_POST, {
                "BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": auth})}
        if scenario == "introspection":
            return {"introspection": self.wrk("/introspect", WRK_POST, {
                "BENCH_BODY": urlencode({"token": self.access, "token_type_hint": "access_token"}),
                "BENCH_AUTH": auth})}
        if scenario == "introspection-cold":
            # More distinct tokens than the server remembers verified signatures for
            # (idp.oidc.tokens.access.VerifiedSignatures.SIZE), walked in order: every request
            # verifies a signature, as for tokens each presented once.
            bodies = self.workdir / "introspection-bodies.txt"
            with httpx.Client(timeout=30) as http, bodies.open("w") as out:
                for _ in range(COLD_TOKENS):
                    minted = http.post(f"{issuer}/token", headers={"Authorization": auth},
                                       data={"grant_type": "client_credentials"})
                    minted.raise_for_status()
                    out.write(urlencode({"token": minted.json()["access_token"]}) + "\n")
            return {"introspection, cold": self.wrk("/introspect", WRK_BODIES, {
                "BENCH_BODIES": str(bodies), "BENCH_AUTH": auth})}
        if scenario == "userinfo":
            return {"userinfo": self.wrk("/userinfo", WRK_BEARER, {"BENCH_TOKEN": self.access})}
        pin_self_to_load_core()
        if scenario == "refresh":
            pool = self.refresh_pool

            def refresh_state(index):
                return {"http": httpx.Client(timeout=30), "index": index}

            def refresh_step(state):  # each connection rotates its own family, round after round
                answer = state["http"].post(f"{issuer}/token", headers={"Authorization": auth}, data={
                    "grant_type": "refresh_token", "refresh_token": pool[state["index"]]})
                if answer.status_code != 200:
                    return False
                pool[state["index"]] = answer.json()["refresh_token"]
                return True
            return {"refresh_token": self.measured(
                lambda: Driver(args.duration, args.connections).run(refresh_state, refresh_step))}
        if scenario == "signin":
            users, client = self.users, self.client

            def signin_step(state):
                with httpx.Client(timeout=30) as browser:  # a new browser: no session cookie
                    return sign_in_flow(browser, issuer, client, state["user"]) is not None
            return signin_rounds(
                args.rounds, lambda: argon2_floor(self.server.env, args.duration),
                lambda: self.measured(lambda: Driver(args.duration, args.signin_connections)
                                      .run(lambda index: {"user": users[index % len(users)]}, signin_step)))
        if scenario == "cc-rs256":
            return {"client_credentials RS256": self.rs256()}
        raise ValueError(scenario)

    def rs256(self) -> dict:
        """client_credentials with RS256 access tokens: a second server on the same database
        and instance, started with IDP_ACCESS_TOKEN_ALG=RS256 while the first is stopped."""
        self.server.stop()
        (self.workdir / "rs256").mkdir(exist_ok=True)
        rs = Server(self.workdir / "rs256", None, "RS256", self.threads)
        rs.env["IDP_DATABASE_URL"] = self.server.env["IDP_DATABASE_URL"]
        rs.env["IDP_INSTANCE_DIR"] = self.server.env["IDP_INSTANCE_DIR"]
        rs.start()
        try:
            return measured(rs, lambda: run_wrk(
                rs.issuer + "/token", self.args.duration, self.args.connections, WRK_POST,
                {"BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": self.auth}))
        finally:
            rs.stop()
            self.server.start()


def own_server_scenarios(args, workdir: Path) -> dict:
    """Every scenario asked for on idp; with ``--database-url`` on PostgreSQL, on idp on SQLite
    too, each scenario run on both in turn (``--rounds`` times for the request scenarios, the
    first side alternating), so that PostgreSQL's cost over SQLite's comes from one run."""
    sides = {IDP: OwnSide(args, workdir / IDP, args.database_url, args.threads)}
    if _database_kind(args.database_url) == "PostgreSQL":
        sides[IDP_SQLITE] = OwnSide(args, workdir / IDP_SQLITE, None, SQLITE_THREADS)
    results: dict[str, dict[str, dict]] = {side: {} for side in sides}
    wanted = [s for s in SCENARIOS if not args.scenario or s in args.scenario]
    # The RS256 scenario restarts a server: last, so the others run on one long-lived process.
    wanted.sort(key=lambda s: s == "cc-rs256")
    started: list[OwnSide] = []
    try:
        for side in sides.values():
            side.start()
            started.append(side)
        order = list(sides)
        for scenario in wanted:
            # Sign-ins carry their own rounds (alternating with the argon2id floor).
            rounds = 1 if scenario == "signin" or len(sides) == 1 else max(1, args.rounds)
            runs: dict[str, list[dict[str, dict]]] = {side: [] for side in sides}
            for round_number in range(rounds):
                for side in rotated(order, round_number):
                    runs[side].append(sides[side].run(scenario))
                    if len(sides) > 1:
                        name, result = next(iter(runs[side][-1].items()))
                        print(f"{scenario:<18} {side:<11} {result['rps']:>9.1f}/s  "
                              f"{result.get('server_cpu_ms', 0):.3f} ms CPU", flush=True)
            for side, side_runs in runs.items():
                for name, first in side_runs[0].items():
                    results[side][name] = (first if len(side_runs) == 1
                                           else _merged([run[name] for run in side_runs]))
    finally:
        for side in started:
            side.stop()
    sqlite = results.get(IDP_SQLITE)
    return {"results": results[IDP], "sqlite": sqlite,
            "postgresql_over_sqlite": postgresql_over_sqlite(results[IDP], sqlite) if sqlite else None}


def postgresql_over_sqlite(postgresql: dict, sqlite: dict) -> dict[str, float]:
    """Per scenario: CPU per request on PostgreSQL (idp's processes and the database's) over
    CPU per request on SQLite, measured in the same run. For sign-ins, each side's CPU is first
    divided by its own argon2id floor (measured around its rounds), which takes the machine's
    drift between the two sides' rounds out of the comparison."""
    ratios = {}
    for name, pg in postgresql.items():
        lite = sqlite.get(name)
        if not lite or not lite.get("server_cpu_ms") or name == "argon2id verify (floor)":
            continue
        pg_cpu = pg["server_cpu_ms"] + pg.get("database_cpu_ms", 0.0)
        if "of_argon2_floor_cpu" in pg:
            ratios[name] = lite["of_argon2_floor_cpu"] / pg["of_argon2_floor_cpu"] * (
                pg_cpu / pg["server_cpu_ms"])
        else:
            ratios[name] = pg_cpu / lite["server_cpu_ms"]
    return ratios


def signin_rounds(rounds: int, floor, signins) -> dict:
    """Complete sign-ins and the argon2id floor in alternating rounds (floor, sign-ins, floor,
    ..., sign-ins, floor; the server idle on the same core while the floor runs). Each round's
    sign-ins are divided by the mean of the floors measured right before and right after them:
    this machine's speed drifts by a fifth within minutes, so a floor taken minutes apart would
    bias the ratio either way, and one round alone varies by several points."""
    floors, runs = [floor()], []
    for _ in range(max(1, rounds)):
        runs.append(signins())
        floors.append(floor())
    for run, before, after in zip(runs, floors[:-1], floors[1:], strict=True):
        run["of_argon2_floor"] = run["rps"] / ((before["rps"] + after["rps"]) / 2)
        run["of_argon2_floor_whole_run"] = run["rps_whole_run"] / ((before["rps"] + after["rps"]) / 2)
        # The same ratio from CPU time per sign-in, which a shared machine does not distort.
        run["of_argon2_floor_cpu"] = ((before["server_cpu_ms"] + after["server_cpu_ms"]) / 2
                                      / run["server_cpu_ms"])
    signin = _merged(runs)
    signin["of_argon2_floor"] = statistics.fmean(r["of_argon2_floor"] for r in runs)
    signin["of_argon2_floor_cpu"] = statistics.fmean(r["of_argon2_floor_cpu"] for r in runs)
    signin["of_argon2_floor_whole_run"] = statistics.fmean(r["of_argon2_floor_whole_run"] for r in runs)
    signin["rounds"] = [{key: run[key] for key in ("rps", "server_cpu_ms", "database_cpu_ms",
                                                    "of_argon2_floor", "of_argon2_floor_cpu",
                                                    "of_argon2_floor_whole_run")}
                        for run in runs]
    floor_total = _merged(floors)
    floor_total["rounds_rps"] = [f["rps"] for f in floors]
    return {"complete sign-in": signin, "argon2id verify (floor)": floor_total}


def _merged(runs: list[dict]) -> dict:
    """Rounds of one scenario as one: mean rate and p50, worst p99, totals, CPU per request
    weighted by requests."""
    requests = sum(r["requests"] for r in runs)
    merged = {**runs[0], "requests": requests,
              "rps": statistics.fmean(r["rps"] for r in runs),
              "p50_ms": statistics.fmean(r["p50_ms"] for r in runs),
              "p99_ms": max(r["p99_ms"] for r in runs),
              "non_2xx": sum(r["non_2xx"] for r in runs), "errors": sum(r["errors"] for r in runs)}
    for key in ("server_cpu_ms", "database_cpu_ms"):
        if key in runs[0]:
            merged[key] = sum(r[key] * r["requests"] for r in runs) / max(requests, 1)
    return merged


def peer_scenarios(args) -> dict:
    """Another provider, from its discovery document: what needs only client credentials."""
    discovery_url = args.issuer.rstrip("/") + "/.well-known/openid-configuration"
    meta = httpx.get(discovery_url, timeout=10).json()
    auth = basic(args.client_id, args.client_secret)
    body = "grant_type=client_credentials" + (f"&scope={args.scope}" if args.scope else "")
    results = {"discovery": run_wrk(discovery_url, args.duration, args.connections, ""),
               "jwks": run_wrk(meta["jwks_uri"], args.duration, args.connections, "")}
    results["client_credentials"] = run_wrk(meta["token_endpoint"], args.duration, args.connections,
                                            WRK_POST, {"BENCH_BODY": body, "BENCH_AUTH": auth})
    if meta.get("introspection_endpoint"):
        token = httpx.post(meta["token_endpoint"], content=body, headers={
            "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}).json()
        results["introspection"] = run_wrk(
            meta["introspection_endpoint"], args.duration, args.connections, WRK_POST,
            {"BENCH_BODY": urlencode({"token": token["access_token"]}), "BENCH_AUTH": auth})
    return results


# -- side by side with another provider ------------------------------------------------------------

#: The scenarios both servers answer, run in alternating rounds by ``--peer``.
PEER_SCENARIOS = ("discovery", "jwks", "cc-es256", "introspection")
PEER_SCRIPT = ROOT / "scripts" / "bench_peer_node_oidc_provider.mjs"
PEER_VERSION = "9.13.3"
PEER_OPAQUE_RESOURCE = "https://opaque.bench.example"


class NodePeer:
    """node-oidc-provider, installed from npm into ``folder`` (outside the repository), with the
    configuration of scripts/bench_peer_node_oidc_provider.mjs, pinned to idp's core."""

    def __init__(self, folder: Path, workdir: Path):
        self.folder = folder
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = "bench-peer"
        self.secret = secrets.token_urlsafe(32)
        self.log = workdir / "peer.log"
        self.process: subprocess.Popen | None = None

    def install(self) -> None:
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise SystemExit("--peer node-oidc-provider needs node and npm (apt-get install nodejs npm)")
        self.folder.mkdir(parents=True, exist_ok=True)
        package = self.folder / "node_modules" / "oidc-provider" / "package.json"
        installed = json.loads(package.read_text())["version"] if package.exists() else None
        if installed != PEER_VERSION:
            if not (self.folder / "package.json").exists():
                (self.folder / "package.json").write_text('{"private": true}\n')
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                            f"oidc-provider@{PEER_VERSION}"], cwd=self.folder, check=True)
        # ESM resolves packages from the importing file's folder: the script runs from there.
        shutil.copyfile(PEER_SCRIPT, self.folder / "bench-peer.mjs")

    def start(self) -> None:
        env = {**os.environ, "NODE_ENV": "production", "PEER_PORT": str(self.port),
               "PEER_ISSUER": self.issuer, "PEER_CLIENT_ID": self.client_id,
               "PEER_CLIENT_SECRET": self.secret}
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, "node", str(self.folder / "bench-peer.mjs")],
            cwd=self.folder, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        _wait_ready(self.process, f"{self.issuer}/.well-known/openid-configuration", self.log)

    def cpu_seconds(self) -> float:
        return _tree_cpu_seconds(self.process.pid)

    def database_cpu_seconds(self) -> float:
        return 0.0  # its in-memory adapter: no database

    def stop(self) -> None:
        _stop(self.process)


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited; its log:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not become ready; its log:\n{log.read_text()}")


def _named_cpu_seconds(name: str) -> float:
    """CPU time (user + system) of every process whose command name is ``name``, with that of
    their children that have exited (a PostgreSQL backend or autovacuum worker ending during a
    scenario takes its CPU time out of the live processes' sum; its parent, the postmaster,
    gains it when it reaps it)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, rest = text.split("(", 1)[1].rsplit(")", 1)
        if command == name:
            fields = rest.split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    return total


def _tree_cpu_seconds(root_pid: int) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [str(root_pid)]
    pids += subprocess.run(["pgrep", "-P", str(root_pid)], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _stop(process: subprocess.Popen | None) -> None:
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _scenario_runs(issuer: str, token_url: str, introspection_url: str, auth: str,
                   introspected: str) -> dict:
    """The shared scenarios as (url, wrk script, environment)."""
    return {
        "discovery": (issuer + "/.well-known/openid-configuration", "", None),
        "jwks": (None, "", None),  # filled from the discovery document
        "cc-es256": (token_url, WRK_POST, {"BENCH_BODY": "grant_type=client_credentials",
                                           "BENCH_AUTH": auth}),
        "introspection": (introspection_url, WRK_POST, {
            "BENCH_BODY": urlencode({"token": introspected}), "BENCH_AUTH": auth}),
    }


def _side(issuer: str, auth: str, opaque_resource: str | None) -> dict:
    """Where one server answers each shared scenario, from its discovery document."""
    meta = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    body = {"grant_type": "client_credentials"}
    if opaque_resource:  # node-oidc-provider introspects only its opaque tokens
        body["resource"] = opaque_resource
    minted = httpx.post(meta["token_endpoint"], data=body, headers={"Authorization": auth}, timeout=10)
    minted.raise_for_status()
    runs = _scenario_runs(issuer, meta["token_endpoint"], meta["introspection_endpoint"], auth,
                          minted.json()["access_token"])
    runs["jwks"] = (meta["jwks_uri"], "", None)
    # Both answers must be what a resource server relies on, or the comparison means nothing.
    check = httpx.post(meta["introspection_endpoint"], headers={"Authorization": auth},
                       data={"token": minted.json()["access_token"]}, timeout=10)
    if check.status_code != 200 or check.json().get("active") is not True:
        raise SystemExit(f"{issuer}: introspection of a fresh token did not say active: {check.text}")
    return runs


def peer_comparison(args, workdir: Path) -> dict:
    """idp and the peer on the same core, the same scenarios in alternating rounds. With
    ``--database-url`` on PostgreSQL, idp on SQLite (its default threads) is a third side in the
    same rounds, so that what PostgreSQL costs over SQLite is read from one run, not from two
    runs minutes apart on a machine whose speed drifts."""
    peer = NodePeer(Path(args.peer_dir).expanduser(), workdir)
    peer.install()
    targets: dict[str, object] = {}
    auths: dict[str, str] = {}
    databases = {IDP: args.database_url}
    if _database_kind(args.database_url) == "PostgreSQL":
        databases[IDP_SQLITE] = None
    for side, url in databases.items():
        (workdir / side).mkdir()
        threads = args.threads if side == IDP else SQLITE_THREADS
        targets[side] = Server(workdir / side, url, "ES256", threads, args.workers)
        seeded = seed(targets[side], 1)
        auths[side] = basic(seeded["client_id"], seeded["secret"])
    targets[PEER] = peer
    wanted = [s for s in PEER_SCENARIOS if not args.scenario or s in args.scenario]
    runs: dict[str, dict[str, list[dict]]] = {s: {side: [] for side in targets} for s in wanted}
    started: list = []
    try:
        for target in targets.values():
            target.start()
            started.append(target)
        sides = {side: _side(target.issuer, basic(peer.client_id, peer.secret), PEER_OPAQUE_RESOURCE)
                 if side == PEER else _side(target.issuer, auths[side], None)
                 for side, target in targets.items()}
        # Warm every side up first (the peer's JIT, idp's caches and pool): not counted.
        for side in targets:
            for scenario in wanted:
                url, script, env = sides[side][scenario]
                run_wrk(url, 2, args.connections, script, env)
        order = list(targets)
        for round_number in range(args.rounds):
            for scenario in wanted:
                for side in rotated(order, round_number):
                    url, script, env = sides[side][scenario]
                    result = measured(targets[side], functools.partial(
                        run_wrk, url, args.duration, args.connections, script, env))
                    runs[scenario][side].append(result)
                    print(f"round {round_number + 1} {scenario:<14} {side:<11} "
                          f"{result['rps']:>9.0f}/s  non-2xx {result['non_2xx']}", flush=True)
    finally:
        for target in started:
            target.stop()
    return runs


#: The sides of a peer comparison: idp on the database asked for, the peer, and (when that
#: database is PostgreSQL) idp on SQLite.
IDP, PEER, IDP_SQLITE = "idp", "peer", "idp-sqlite"
#: Server threads on SQLite. Its one writer takes a short write transaction per batch of audit
#: events; with 16 connections, 8 threads answer client_credentials and introspection with
#: ~10 % less CPU than 4 (half the thread switches per request) or 16 (GIL contention).
SQLITE_THREADS = 8


def _mean_cpu(results: list[dict], key: str) -> float:
    return statistics.mean(r.get(key, 0.0) for r in results)


def summarise_comparison(runs: dict) -> dict:
    summary = {}
    for scenario, sides in runs.items():
        idp_rps = [r["rps"] for r in sides[IDP]]
        peer_rps = [r["rps"] for r in sides[PEER]]
        idp_cpu = _mean_cpu(sides[IDP], "server_cpu_ms")
        database_cpu = _mean_cpu(sides[IDP], "database_cpu_ms")
        peer_cpu = _mean_cpu(sides[PEER], "server_cpu_ms")
        summary[scenario] = {
            "idp_rps": idp_rps, "peer_rps": peer_rps,
            "ratio": statistics.mean(idp_rps) / statistics.mean(peer_rps),
            "idp_cpu_ms": idp_cpu, "database_cpu_ms": database_cpu, "peer_cpu_ms": peer_cpu,
            # The same comparison from CPU time per request, which a shared machine distorts less.
            "cpu_ratio": peer_cpu / idp_cpu if idp_cpu else None,
            "non_2xx": {side: sum(r["non_2xx"] + r["errors"] for r in results)
                        for side, results in sides.items()},
        }
        if IDP_SQLITE in sides:
            sqlite_rps = [r["rps"] for r in sides[IDP_SQLITE]]
            sqlite_cpu = _mean_cpu(sides[IDP_SQLITE], "server_cpu_ms")
            summary[scenario].update({
                "sqlite_rps": sqlite_rps,
                "sqlite_ratio": statistics.mean(sqlite_rps) / statistics.mean(peer_rps),
                "sqlite_cpu_ms": sqlite_cpu,
                "sqlite_cpu_ratio": peer_cpu / sqlite_cpu if sqlite_cpu else None,
                # PostgreSQL's whole cost (idp's processes and the database's) over SQLite's,
                # per request, measured in the same rounds.
                "postgresql_over_sqlite_cpu": ((idp_cpu + database_cpu) / sqlite_cpu
                                               if sqlite_cpu else None),
            })
    return summary


def print_comparison(summary: dict, peer: str, database: str) -> None:
    def rates(values):
        return "–".join(f"{v:,.0f}" for v in (min(values), max(values))) if len(values) > 1 \
            else f"{values[0]:,.0f}"

    def ratio(value):
        return f"{value:.2f}" if value else "-"
    print(f"\nidp on {database}")
    print(f"{'scenario':<16} {'idp req/s':>17} {peer + ' req/s':>28} {'idp/peer':>9} "
          f"{'by CPU':>7} {'idp ms/req':>10} {'db ms/req':>9} {'non-2xx':>8}")
    for name, r in summary.items():
        print(f"{name:<16} {rates(r['idp_rps']):>17} {rates(r['peer_rps']):>28} "
              f"{r['ratio']:>8.2f}x {ratio(r['cpu_ratio']):>7} {r['idp_cpu_ms']:>10.3f} "
              f"{r['database_cpu_ms']:>9.3f} {' '.join(str(n) for n in r['non_2xx'].values()):>8}")
    print("\nidp/peer: mean rate over the rounds, idp's divided by the peer's; 'by CPU': the peer's "
          "CPU time per request divided by idp's (both on core 0, the load on core 1); "
          "'idp ms/req': idp's processes' CPU time per request, 'db ms/req': PostgreSQL's (0 on "
          "SQLite); non-2xx: per side")
    if not any("sqlite_rps" in r for r in summary.values()):
        return
    print("\nidp on SQLite, in the same rounds")
    print(f"{'scenario':<16} {'idp req/s':>17} {'idp/peer':>9} {'by CPU':>7} {'idp ms/req':>10} "
          f"{'PostgreSQL/SQLite CPU':>22}")
    for name, r in summary.items():
        print(f"{name:<16} {rates(r['sqlite_rps']):>17} {r['sqlite_ratio']:>8.2f}x "
              f"{ratio(r['sqlite_cpu_ratio']):>7} {r['sqlite_cpu_ms']:>10.3f} "
              f"{ratio(r['postgresql_over_sqlite_cpu']):>22}")
    print("\nPostgreSQL/SQLite CPU: idp's and PostgreSQL's CPU time per request on PostgreSQL, "
          "divided by idp's on SQLite")


def print_database_ratios(ratios: dict[str, float]) -> None:
    print("\nPostgreSQL's CPU per request (idp's and the database's) over SQLite's, same run "
          "(sign-ins: each over its own argon2id floor); target: at most 1.3")
    for name, ratio in ratios.items():
        print(f"  {name:<28} {ratio:>5.2f}")


def print_table(results: dict, title: str | None = None) -> None:
    if title:
        print(f"\nidp on {title}")
    print(f"\n{'scenario':<28} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>8} {'errors':>7}"
          f" {'cpu ms/req':>10} {'db ms/req':>9} {'1 core req/s':>12}")
    for name, r in results.items():
        cpu = r.get("server_cpu_ms")
        database = r.get("database_cpu_ms") or 0.0
        cpu_text = (f"{cpu:>10.3f} {database:>9.3f} {1000 / (cpu + database):>12.0f}" if cpu
                    else f"{'-':>10} {'-':>9} {'-':>12}")
        print(f"{name:<28} {r['rps']:>10.1f} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} "
              f"{r['non_2xx']:>8} {r['errors']:>7} {cpu_text}")
    print("\ncpu ms/req: the server's CPU time per request; db ms/req: PostgreSQL's (0 on SQLite); "
          "'1 core req/s' = 1000 / their sum, the rate a core of its own would sustain (meaningful "
          "when the machine is shared)")
    signin = results.get("complete sign-in")
    if signin and "of_argon2_floor" in signin:
        rounds = ", ".join(f"{100 * r['of_argon2_floor']:.0f}" for r in signin["rounds"])
        print(f"\ncomplete sign-ins reach {100 * signin['of_argon2_floor']:.0f}% of the argon2id floor "
              f"by rate (rounds: {rounds}), {100 * signin['of_argon2_floor_cpu']:.0f}% by CPU time "
              f"(target: at least 90%)")


def _node_version() -> str:
    return subprocess.run(["node", "-v"], capture_output=True, text=True).stdout.strip()


def _database_kind(url: str | None) -> str:
    return "PostgreSQL" if url and url.startswith("postgresql") else "SQLite"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` when it does not exist yet (CREATE
    DATABASE cannot run inside a transaction: autocommit, through the maintenance database)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                        {"name": target.database}).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_schema(url: str | None):
    """A PostgreSQL URL whose tables live in a schema of their own, dropped afterwards: every
    run starts empty, whatever an earlier run left in the database."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    from urllib.parse import quote

    from sqlalchemy import create_engine, text
    schema = f"bench_{secrets.token_hex(6)}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"
        finally:
            with engine.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--signin-connections", type=int, default=4,
                        help="concurrent browsers in the sign-in scenario (default 4)")
    parser.add_argument("--threads", type=int, default=None,
                        help="server threads (granian --blocking-threads; default 16 on PostgreSQL, "
                        "as the Dockerfile, and 8 on SQLite)")
    parser.add_argument("--workers", type=int, default=1,
                        help="idp's worker processes (granian --workers, all on core 0; default 1)")
    parser.add_argument("--citizens", type=int, default=8, help="citizens seeded (at most 22)")
    parser.add_argument("--database-url", help="PostgreSQL to use instead of a fresh SQLite file "
                        "(an empty database: the bench migrates and seeds it)")
    parser.add_argument("--issuer", help="measure another provider, found by its discovery document")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--scope", default="", help="scope for the peer's client_credentials grant")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only this scenario (repeatable; default: all of them)")
    parser.add_argument("--output", default="bench-results.json", help="JSON results file")
    parser.add_argument("--peer", choices=("node-oidc-provider",),
                        help="run the scenarios both answer against idp and this provider, "
                        "side by side in alternating rounds")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds: idp and the peer with --peer; sign-ins and the "
                        "argon2id floor (default 2)")
    parser.add_argument("--peer-dir", default="~/.cache/idp-bench/peer",
                        help="where --peer installs the provider from npm (outside the repository)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (scripts/bench installs it)")
    if args.database_url:
        ensure_database(args.database_url)
    if args.threads is None:
        args.threads = 16 if args.database_url else SQLITE_THREADS
    if args.peer:
        with tempfile.TemporaryDirectory(prefix="idp-bench-") as folder, \
                fresh_schema(args.database_url) as url:
            runs = peer_comparison(argparse.Namespace(**{**vars(args), "database_url": url}),
                                   Path(folder))
        summary = summarise_comparison(runs)
        print_comparison(summary, args.peer, _database_kind(args.database_url))
        report = {"peer": f"{args.peer} {PEER_VERSION} (node {_node_version()})",
                  "idp": f"granian, {args.workers} worker(s) of {args.threads} threads, core 0",
                  "database": _database_kind(args.database_url),
                  "duration_s": args.duration, "connections": args.connections,
                  "rounds": args.rounds, "cpu_count": os.cpu_count(),
                  "load_average": os.getloadavg(), "scenarios": summary, "runs": runs}
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten: {args.output}")
        if any(any(r["non_2xx"].values()) for r in summary.values()):
            sys.exit(1)
        return
    if args.issuer:
        if not (args.client_id and args.client_secret):
            raise SystemExit("--issuer needs --client-id and --client-secret")
        results = peer_scenarios(args)
        target = args.issuer
    else:
        with tempfile.TemporaryDirectory(prefix="idp-bench-") as folder, \
                fresh_schema(args.database_url) as url:
            own = own_server_scenarios(argparse.Namespace(**{**vars(args), "database_url": url}),
                                       Path(folder))
        results = own["results"]
        target = f"idp (granian, {args.workers} worker(s) on core 0)"
    print_table(results, _database_kind(args.database_url) if not args.issuer else None)
    report = {"target": target, "duration_s": args.duration, "connections": args.connections,
              "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "results": results}
    if not args.issuer and own["sqlite"]:
        print_table(own["sqlite"], "SQLite, in the same run")
        print_database_ratios(own["postgresql_over_sqlite"])
        report.update(sqlite=own["sqlite"], postgresql_over_sqlite=own["postgresql_over_sqlite"])
        results = {**results, **{f"{name} (SQLite)": r for name, r in own["sqlite"].items()}}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    if any(r["non_2xx"] or r["errors"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
