"""A password hash runs to its end before the requests waiting beside it on a core
(idp.scheduling): request threads run under SCHED_BATCH, a hash asks for a time slice of
IDP_ARGON2_SLICE_MS; with 0, or on a kernel that takes no slice, the kernel's slices, and the
hash alone runs as SCHED_BATCH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from idp import create_app, scheduling
from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.db import db
from tests.factories import AN, app_with_citizen, sign_in

pytestmark = pytest.mark.skipif(not scheduling.long_slices(), reason="Linux 6.12+ time slices")

MS = 1_000_000


@pytest.fixture
def slice_app(environ):
    """The app with ``IDP_ARGON2_SLICE_MS`` set as the test says (``app_with_citizen``)."""
    made = []

    def make(slice_ms: str):
        made.append(app_with_citizen(environ, IDP_ARGON2_SLICE_MS=slice_ms))
        return made[-1]
    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _in_a_new_thread(work):
    """``work()``'s result, run on a thread of its own that starts with the default policy, as
    a server's thread does (a request thread's policy outlives its request, and the test's own
    thread must not carry it into other tests)."""
    result: list = []

    def run():
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        result.append(work())
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def _policy_after_a_request(app) -> tuple[int, int]:
    def work():
        assert app.test_client().get("/healthz").status_code == 200
        return scheduling._policy(), os.sched_getscheduler(0) & os.SCHED_RESET_ON_FORK
    return _in_a_new_thread(work)


def test_a_request_thread_runs_as_a_batch_thread_from_its_first_request(app):
    assert _policy_after_a_request(app) == (os.SCHED_BATCH, os.SCHED_RESET_ON_FORK)


@pytest.fixture(params=["IDP_ARGON2_SLICE_MS=0", "a kernel that takes no slice"])
def without_slices(request, monkeypatch) -> str:
    """The ``IDP_ARGON2_SLICE_MS`` of a server whose hashes have no slice of their own: 0, or
    the default on a kernel before 6.12."""
    if request.param == "a kernel that takes no slice":
        monkeypatch.setattr(scheduling, "long_slices", lambda: False)
        return "100"
    return "0"


def test_without_slices_request_threads_keep_the_default_policy(environ, without_slices):
    app = create_app({**environ, "IDP_ARGON2_SLICE_MS": without_slices})
    assert _policy_after_a_request(app) == (os.SCHED_OTHER, 0)


@pytest.fixture
def during_hash(monkeypatch):
    """(policy, slice in ns) of the thread running each argon2id verification."""
    seen: list[tuple[int, int]] = []
    verify = KeptMemoryVerifier.verify

    def observed(self, stored, password):
        seen.append((scheduling._policy(), scheduling.slice_ns()))
        return verify(self, stored, password)

    monkeypatch.setattr(KeptMemoryVerifier, "verify", observed)
    return seen


@pytest.mark.parametrize(("username", "password", "status"), [
    (AN["identifier"], None, 303),              # the right password: signed in
    (AN["identifier"], "not the password", 422),  # a wrong one
    ("012345678999", "whatever it is", 422),     # no such account: the dummy verification
])
@pytest.mark.parametrize("slice_ms", ["100", "40"])
def test_a_sign_in_hashes_with_the_configured_slice_then_the_thread_has_the_kernels_again(
        slice_app, during_hash, username, password, status, slice_ms):
    app = slice_app(slice_ms)

    def work():
        default = scheduling.slice_ns()
        answer = sign_in(app.test_client(), username, **({"password": password} if password else {}))
        return default, answer.status_code, scheduling.slice_ns()
    default, answered, after = _in_a_new_thread(work)
    assert answered == status
    assert during_hash == [(os.SCHED_BATCH, int(slice_ms) * MS)]
    assert after == default != int(slice_ms) * MS


def test_without_slices_a_hash_runs_as_a_batch_computation_alone(slice_app, during_hash,
                                                                 without_slices):
    app = slice_app(without_slices)

    def work():
        default = scheduling.slice_ns()
        answer = sign_in(app.test_client(), AN["identifier"])
        return default, answer.status_code, scheduling._policy()
    default, answered, after = _in_a_new_thread(work)
    assert answered == 303
    assert during_hash == [(os.SCHED_BATCH, default)]
    assert after == os.SCHED_OTHER  # the request thread goes on as before


# A thread that wakes every half millisecond and one hashing, both request threads (batch), on
# one core: how many times the first ran while each hash ran, with the hash's own slice and
# with the kernel's.
_WAKES_DURING_HASHES = r"""
import json, os, sys, threading, time
os.sched_setaffinity(0, {int(sys.argv[1])})
from argon2 import PasswordHasher, Type
from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.scheduling import _switch, hash_turn
hasher = PasswordHasher(time_cost=2, memory_cost=32768, parallelism=1, type=Type.ID)
stored, kept = hasher.hash("x"), KeptMemoryVerifier(hasher, 1)
wakes, running = [], True
def ticker():
    _switch(os.SCHED_BATCH)
    while running:
        time.sleep(0.0005)
        wakes.append(time.perf_counter())
threading.Thread(target=ticker, daemon=True).start()
_switch(os.SCHED_BATCH)
counts = {"turn": [], "slices": []}
for _ in range(3):
    for name, slice_ms in (("turn", 100), ("slices", 0)):
        time.sleep(0.005)
        start = time.perf_counter()
        with hash_turn(slice_ms):
            kept.verify(stored, "x")
        end = time.perf_counter()
        counts[name].append(sum(start < at < end for at in wakes))
running = False
print(json.dumps(counts))
"""


def test_a_hash_with_its_own_slice_is_not_interrupted_by_a_request_thread_on_its_core():
    """Another process waking on the same core (the suite's other worker) also takes the core
    from the hash, and the ticker may run after it: the separation shows in a hash the
    neighbour left alone, so the comparison is run up to ten times. Without the hash's slice it
    never shows."""
    core = max(os.sched_getaffinity(0))
    attempts = []
    for _ in range(10):
        out = subprocess.run([sys.executable, "-c", _WAKES_DURING_HASHES, str(core)], check=True,
                             capture_output=True, text=True, timeout=120).stdout
        counts = json.loads(out)
        attempts.append(counts)
        # With the kernel's slices the ticker runs every few milliseconds of a hash's tens of
        # milliseconds, in every hash; with the hash's own slice, only when something else took
        # the core. A busy neighbour disturbs some hashes of a window: the least interrupted
        # hash of each side is compared.
        if min(counts["slices"]) >= 5 and min(counts["turn"]) * 3 < min(counts["slices"]):
            return
    pytest.fail(f"the ticker ran as often during hashes with their own slice: {attempts}")
