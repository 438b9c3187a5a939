"""IDP_ARGON2_MAX_CONCURRENT: a process runs at most that many argon2id hashes at once, whatever
its thread count (each holds IDP_ARGON2_MEMORY_COST KiB while it runs), and the others wait
their turn rather than fail."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from idp import create_app
from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.auth.password import concurrent_hashes, hash_password, lane_threads, verify_password


@pytest.fixture
def app(environ):
    return create_app({**environ, "IDP_ARGON2_MAX_CONCURRENT": "2"})


@pytest.fixture
def running(monkeypatch):
    """The most argon2id verifications seen running at the same time (each made to last 50 ms,
    so that unbounded threads would overlap)."""
    state = {"now": 0, "most": 0}
    lock = threading.Lock()
    verify = KeptMemoryVerifier.verify

    def slow_verify(self, stored, password):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.05)
            return verify(self, stored, password)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(KeptMemoryVerifier, "verify", slow_verify)
    return state


def _verified_at_once(app, passwords: list[str]) -> list[bool]:
    """Each of ``passwords`` checked against one stored hash, all from threads of their own."""
    with app.app_context():
        stored = hash_password("correct horse battery staple")

    def sign_in(password):
        with app.app_context():
            return verify_password(stored, password)

    with ThreadPoolExecutor(len(passwords)) as pool:
        return list(pool.map(sign_in, passwords))


def test_at_most_the_configured_number_of_verifications_run_at_once(app, running):
    answers = _verified_at_once(app, ["correct horse battery staple", "wrong"] * 4)
    assert answers == [True, False] * 4  # every one waited its turn and got its answer
    assert running["most"] == 2


def test_an_unknown_account_takes_a_slot_too(app, running):
    """The dummy verification (no stored hash: same time as a real one) is bounded alike."""
    def sign_in(_):
        with app.app_context():
            return verify_password(None, "anything at all")

    with ThreadPoolExecutor(6) as pool:
        assert not any(pool.map(sign_in, range(6)))
    assert running["most"] == 2


def _machine(monkeypatch, cores: int, web_concurrency: str | None) -> None:
    """This process may run on ``cores`` cores, shared by ``web_concurrency`` workers."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    if web_concurrency is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", web_concurrency)


@pytest.mark.parametrize(("cores", "web_concurrency", "expected"), [
    (1, None, 1), (4, None, 4), (4, "2", 2), (4, "4", 1), (2, "8", 1), (4, "not a number", 4)])
def test_auto_runs_about_one_hash_per_core_of_the_machine(monkeypatch, cores, web_concurrency,
                                                          expected):
    """IDP_ARGON2_MAX_CONCURRENT=auto (the default): the cores the process may run on, shared
    among the server's worker processes (WEB_CONCURRENCY), at least one."""
    _machine(monkeypatch, cores, web_concurrency)
    assert concurrent_hashes(None) == expected
    assert concurrent_hashes(3) == 3  # a number given is kept as it is


@pytest.mark.parametrize(("cores", "web_concurrency", "setting", "expected"), [
    (1, None, None, 1), (8, None, None, 1), (8, "2", None, 1), (8, None, 1, 8), (8, None, 2, 4),
    (8, "2", 1, 4), (2, None, 4, 1)])
def test_a_hash_gets_the_cores_left_to_it_as_lane_threads(monkeypatch, cores, web_concurrency,
                                                         setting, expected):
    """idp.auth.password.lane_threads: the worker's share of the cores divided among the hashes
    it runs at once, so a machine runs about one argon2 thread per core; auto: one per hash."""
    _machine(monkeypatch, cores, web_concurrency)
    assert lane_threads(setting) == expected


def test_auto_is_the_default_and_a_worker_pinned_to_one_core_hashes_one_at_a_time(environ, running,
                                                                                  monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    app = create_app({k: v for k, v in environ.items() if k != "IDP_ARGON2_MAX_CONCURRENT"})
    assert app.config["IDP"].argon2_max_concurrent is None
    assert _verified_at_once(app, ["correct horse battery staple"] * 4) == [True] * 4
    assert running["most"] == 1
    with app.app_context():  # its lanes computed on one thread: no turns taken with itself
        from idp.auth.password import _hashing

        assert _hashing().kept.threads == 1
